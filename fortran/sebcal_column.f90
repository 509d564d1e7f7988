!> One soil column: set-up and validation, one implicit time step, spin-up, heat content.
!> The physics of sebcal with no I/O and no module state: every routine works on a column_t
!> the caller owns, so any number of columns (or instances) can run side by side.
!>
!> Equations (docs/theory.md; Huang, Heaney & van Reeuwijk, arXiv 2505.02979, sec. 2.2 for the
!> published model):
!>
!>   C dT/dt = d/dz (lambda dT/dz),                       z_0 < z < z_N, z positive down   (1)
!>   top:    G(T_0) enters the node at z_0 (surface energy balance, eq. 2-7), or T_0 is
!>           prescribed, or a heat flux is prescribed                                       (13)
!>   bottom: T_N = T_b (or a series), or no flux                                            (9)
!>
!> Nodes z_0 < z_1 < ... < z_N, spacings h_i = z_i - z_(i-1), control volumes w_0 = h_1/2,
!> w_i = (h_i + h_(i+1))/2, w_N = h_N/2. The theta-method (theta = 1 backward Euler, the
!> published scheme; theta = 1/2 Crank-Nicolson) with coefficients frozen over the step at the
!> new level's soil moisture (as CLM does), eq. 8:
!>
!>   T_i - T_i^n = theta [a_i (T_(i-1) - T_i) + c_i (T_(i+1) - T_i)]
!>               + (1 - theta) [a_i (T_(i-1)^n - T_i^n) + c_i (T_(i+1)^n - T_i^n)]
!>   T_0 - T_0^n = theta c_0 [(T_1 - T_0) + g_1 G(T_0)] + (1 - theta) c_0 [(T_1^n - T_0^n) + g_1 G^n]
!>
!> Forcing is taken at the new level; G^n is the ground heat flux of the old level.
module sebcal_column
  use, intrinsic :: ieee_arithmetic, only: ieee_value, ieee_quiet_nan, ieee_is_finite
  use sebcal_const
  use sebcal_surface, only: surface_balance
  use sebcal_soil, only: node_properties, coefficients, liquid_water, frozen_properties
  implicit none
  private

  real(dp), parameter, public :: cstep = 1.0e-20_dp     !< complex step for dG/dTs [K]
  real(dp), parameter :: max_newton_step = 50.0_dp   !< largest Newton update [K]
  !> lowest air temperature accepted [K]: below any observed on Earth (184 K), above any
  !> temperature in degrees Celsius
  real(dp), parameter :: t_air_min = 150.0_dp

  !> Geometry, parameters, options and (for constant soil) the coefficients of one column.
  type, public :: column_t
    integer :: n = -1                      !< index of the bottom node (nodes are 0..n)
    real(dp), allocatable :: z(:)          !< node depths [m], (0:n)
    real(dp), allocatable :: h(:)          !< spacings h_i [m], (1:n)
    real(dp), allocatable :: w(:)          !< control-volume widths [m], (0:n)
    real(dp), allocatable :: psoil(:, :)   !< soil parameters of each node, (npsoil, 0:n)
    real(dp), allocatable :: a(:), c(:)    !< coefficients a_i, c_i [1], (0:n) (constant soil)
    real(dp) :: c0 = 0, g1 = 0             !< c_0 [1] and g_1 [m2 K W-1] (constant soil)
    real(dp), allocatable :: q(:), rden(:) !< elimination factors of rows 1..n, (1:n) (constant soil)
    real(dp) :: psurf(npsurf) = 0          !< surface parameters
    integer :: iopt(nopt) = 0              !< options and integer settings
    real(dp) :: rset(nrset) = 0            !< real settings
    real(dp) :: dt = 0                     !< time step [s]
  end type column_t

  public :: column_setup, column_step, column_fluxes, column_spinup, heat_content, spinup_left
  public :: set_coefficients, step_coefficients, step_elimination, ground_flux, check_forcing
  public :: freezing_active, freezing_coefficients, step_freezing

contains

  !> Validate the inputs and fill a column_t.
  !>
  !> dx > 0 selects the uniform grid z_i = z_1 + i dx with every spacing exactly dx (so that the
  !> coefficients equal the paper's r bit for bit); dx <= 0 takes the given depths z.
  subroutine column_setup(col, z, dx, dt, psurf, psoil, iopt, rset, errflg, errmsg)
    type(column_t), intent(inout) :: col
    real(dp), intent(in) :: z(:)              !< node depths [m], increasing
    real(dp), intent(in) :: dx                !< uniform spacing [m], or <= 0 for the given depths
    real(dp), intent(in) :: dt                !< time step [s]
    real(dp), intent(in) :: psurf(npsurf)
    real(dp), intent(in) :: psoil(:, :)       !< (npsoil, nz)
    integer, intent(in) :: iopt(nopt)
    real(dp), intent(in) :: rset(nrset)
    integer, intent(out) :: errflg
    character(len=*), intent(out) :: errmsg
    integer :: ios_msg             !< status of a message write (never stops the run)
    integer :: i, n, nz
    real(dp) :: dummy(0:size(z) - 1)

    errflg = 0
    errmsg = ''
    nz = size(z)
    if (nz < 2) then
      errflg = err_grid
      write (errmsg, '(a,i0)', iostat=ios_msg) 'grid: need at least 2 nodes, got nz = ', nz
      return
    end if
    n = nz - 1
    if (size(psoil, 1) /= npsoil .or. size(psoil, 2) /= nz) then
      errflg = err_option
      write (errmsg, '(a,i0,a,i0,a,i0,a,i0,a)', iostat=ios_msg) 'array psoil has shape (', size(psoil, 1), ', ', &
        size(psoil, 2), '), expected (', npsoil, ', ', nz, ')'
      return
    end if
    if (.not. (ieee_is_finite(z(1)) .and. z(1) >= 0)) then
      errflg = err_grid
      write (errmsg, '(a,es12.5,a)', iostat=ios_msg) 'grid: the first node depth must be >= 0 m, got ', z(1), ' m'
      return
    end if
    if (dx <= 0) then
      do i = 2, nz
        if (.not. (z(i) > z(i - 1)) .or. .not. ieee_is_finite(z(i))) then
          errflg = err_grid
          write (errmsg, '(a,i0,a,es12.5,a,es12.5,a)', iostat=ios_msg) 'grid: node depths must increase; node ', i, &
            ' is at ', z(i), ' m after ', z(i - 1), ' m'
          return
        end if
      end do
    end if
    if (.not. (dt > 0 .and. ieee_is_finite(dt))) then
      errflg = err_option
      write (errmsg, '(a,es12.5,a)', iostat=ios_msg) 'dt must be > 0 s, got ', dt, ' s'
      return
    end if
    call check_options(iopt, rset, errflg, errmsg)
    if (errflg /= 0) return
    if (iopt(io_top) == top_seb .and. z(1) /= 0) then
      errflg = err_grid
      write (errmsg, '(a,es12.5,a)', iostat=ios_msg) 'grid: with the surface energy balance at the top the first node is the '// &
        'surface (0 m), got ', z(1), ' m'
      return
    end if
    if (iopt(io_solver) == solver_jacobi) then
      call check_jacobi(iopt, rset, errflg, errmsg)
      if (errflg /= 0) return
    end if
    call check_surface(psurf, iopt, errflg, errmsg)
    if (errflg /= 0) return
    call check_soil(psoil, iopt, errflg, errmsg)
    if (errflg /= 0) return

    if (allocated(col%z)) deallocate (col%z, col%h, col%w, col%a, col%c, col%q, col%rden, col%psoil)
    allocate (col%z(0:n), col%h(1:n), col%w(0:n), col%a(0:n), col%c(0:n), col%q(1:n), col%rden(1:n), &
              col%psoil(npsoil, 0:n))
    col%n = n
    if (dx > 0) then
      do i = 0, n
        col%z(i) = z(1) + i*dx
      end do
      col%h(:) = dx
    else
      col%z(0:n) = z(1:nz)
      do i = 1, n
        col%h(i) = z(i + 1) - z(i)
      end do
    end if
    col%w(0) = 0.5_dp*col%h(1)
    do i = 1, n - 1
      col%w(i) = 0.5_dp*(col%h(i) + col%h(i + 1))
    end do
    col%w(n) = 0.5_dp*col%h(n)
    col%psoil = psoil
    col%psurf = psurf
    col%iopt = iopt
    col%rset = rset
    col%dt = dt
    if (iopt(io_soil) == soil_constant) then
      dummy = 0
      call set_coefficients(col, dummy, col%a, col%c, col%c0, col%g1)
      call elimination(col, col%a, col%c, col%q, col%rden)
    else
      col%a = 0
      col%c = 0
      col%q = 0
      col%rden = 0
    end if
  end subroutine column_setup

  !> Coefficients a, c, c0, g1 at soil moisture theta (0:n).
  pure subroutine set_coefficients(col, theta, a, c, c0, g1)
    type(column_t), intent(in) :: col
    real(dp), intent(in) :: theta(0:)
    real(dp), intent(out) :: a(0:), c(0:), c0, g1
    real(dp) :: lam(0:col%n), cv(0:col%n)
    call node_properties(col%iopt(io_soil), col%psoil, theta, lam, cv)
    call coefficients(col%h, col%w, col%dt, lam, cv, a, c, c0, g1)
  end subroutine set_coefficients

  !> The coefficients of a step at soil moisture theta (0:n): computed for a moisture-dependent
  !> soil, the column's stored ones for a constant soil.
  pure subroutine step_coefficients(col, theta, a, c, c0, g1)
    type(column_t), intent(in) :: col
    real(dp), intent(in) :: theta(0:)
    real(dp), intent(out) :: a(0:), c(0:), c0, g1
    if (col%iopt(io_soil) == soil_johansen) then
      call set_coefficients(col, theta, a, c, c0, g1)
    else
      a = col%a
      c = col%c
      c0 = col%c0
      g1 = col%g1
    end if
  end subroutine step_coefficients

  !> Factors of the bottom-up elimination of rows 1..n of a step's matrix: T_i = p_i + q_i T_(i-1)
  !> with p_i = (r_i + theta c_i p_(i+1)) rden_i. They depend on the coefficients only (once per
  !> run for a constant soil), and keeping 1/den_i leaves no division in a step's solve.
  pure subroutine elimination(col, a, c, q, rden)
    type(column_t), intent(in) :: col
    real(dp), intent(in) :: a(0:), c(0:)
    real(dp), intent(out) :: q(1:), rden(1:)
    real(dp) :: th
    integer :: i, n
    n = col%n
    th = col%rset(rs_theta)
    if (col%iopt(io_bottom) == bottom_zero_flux) then
      rden(n) = 1/(1 + th*a(n))
      q(n) = th*a(n)*rden(n)
    else
      rden(n) = 1
      q(n) = 0
    end if
    do i = n - 1, 1, -1
      rden(i) = 1/(1 + th*(a(i) + c(i)) - th*c(i)*q(i + 1))
      q(i) = th*a(i)*rden(i)
    end do
  end subroutine elimination

  !> The elimination factors of a step with coefficients a, c: the column's stored ones for a
  !> constant soil, computed for a moisture-dependent soil.
  pure subroutine step_elimination(col, a, c, q, rden)
    type(column_t), intent(in) :: col
    real(dp), intent(in) :: a(0:), c(0:)
    real(dp), intent(out) :: q(1:), rden(1:)
    if (col%iopt(io_soil) == soil_johansen) then
      call elimination(col, a, c, q, rden)
    else
      q = col%q
      rden = col%rden
    end if
  end subroutine step_elimination

  subroutine check_options(iopt, rset, errflg, errmsg)
    integer, intent(in) :: iopt(nopt)
    real(dp), intent(in) :: rset(nrset)
    integer, intent(inout) :: errflg
    character(len=*), intent(inout) :: errmsg
    integer :: ios_msg             !< status of a message write (never stops the run)
    call check_code('solver', iopt(io_solver), 2)
    call check_code('longwave', iopt(io_longwave), 2)
    call check_code('bottom', iopt(io_bottom), 3)
    call check_code('init', iopt(io_init), 3)
    call check_code('turbulence', iopt(io_turbulence), 2)
    call check_code('stability', iopt(io_stability), 2)
    call check_code('latent', iopt(io_latent), 2)
    call check_code('surface_resistance', iopt(io_rsurf), 2)
    call check_code('canopy', iopt(io_canopy), 3)
    call check_code('soil_thermal', iopt(io_soil), 2)
    call check_code('top', iopt(io_top), 3)
    call check_code('freezing', iopt(io_freezing), 3)
    if (errflg /= 0) return
    if (iopt(io_freezing) /= freeze_none .and. iopt(io_solver) /= solver_direct) then
      errflg = err_option
      errmsg = 'freezing needs solver direct (the phase change is solved inside its Newton iteration)'
      return
    end if
    if (.not. (rset(rs_tol) > 0) .or. iopt(io_max_iter) < 1) then
      errflg = err_option
      write (errmsg, '(a,es12.5,a,i0)', iostat=ios_msg) 'solver needs tol > 0 K and max_iter >= 1, got tol = ', rset(rs_tol), &
        ', max_iter = ', iopt(io_max_iter)
    else if (.not. (rset(rs_theta) >= 0.5_dp .and. rset(rs_theta) <= 1)) then
      errflg = err_option
      write (errmsg, '(a,es12.5)', iostat=ios_msg) 'time weight theta must be in [0.5, 1] (1 backward Euler, 0.5 '// &
        'Crank-Nicolson), got ', rset(rs_theta)
    else if (.not. (rset(rs_wind_min) > 0 .and. ieee_is_finite(rset(rs_wind_min)))) then
      errflg = err_option
      write (errmsg, '(a,es12.5)', iostat=ios_msg) 'wind_min must be > 0 m s-1, got ', rset(rs_wind_min)
    else if (.not. (rset(rs_sigma) > 0 .and. ieee_is_finite(rset(rs_sigma)))) then
      errflg = err_option
      write (errmsg, '(a,es12.5)', iostat=ios_msg) 'the Stefan-Boltzmann constant must be > 0, got ', rset(rs_sigma)
    else if (iopt(io_init) == init_spinup .and. (.not. (rset(rs_spinup_tol) > 0) .or. &
                                                 iopt(io_spinup_max) < 1)) then
      errflg = err_option
      errmsg = 'spin-up needs spinup_tol > 0 K and spinup_max_cycles >= 1'
    end if
  contains
    subroutine check_code(name, code, most)
      character(len=*), intent(in) :: name
      integer, intent(in) :: code, most
      if (errflg /= 0) return
      if (code < 1 .or. code > most) then
        errflg = err_option
        write (errmsg, '(3a,i0,a,i0,a)', iostat=ios_msg) 'option ', name, ' code ', code, ' unknown (1..', most, ')'
      end if
    end subroutine check_code
  end subroutine check_options

  subroutine check_surface(ps, iopt, errflg, errmsg)
    real(dp), intent(in) :: ps(npsurf)
    integer, intent(in) :: iopt(nopt)
    integer, intent(inout) :: errflg
    character(len=*), intent(inout) :: errmsg
    integer :: ios_msg             !< status of a message write (never stops the run)
    if (iopt(io_top) == top_seb) then
      call check_param('alpha', ps(ip_alpha), 0.0_dp, 1.0_dp, .true., .true., errflg, errmsg)
      call check_param('eps', ps(ip_eps), 0.0_dp, 1.0_dp, .false., .true., errflg, errmsg)
      if (iopt(io_turbulence) == turb_heff) then
        call check_param('h_eff', ps(ip_heff), 0.0_dp, 1.0e4_dp, .false., .true., errflg, errmsg)
        if (.not. ieee_is_finite(ps(ip_beta))) then
          errflg = err_param
          errmsg = 'parameter beta (Bowen ratio) must be finite (> 0, or <= 0 for "unknown")'
        end if
      else
        call check_param('z0m', ps(ip_z0m), 0.0_dp, 10.0_dp, .false., .true., errflg, errmsg)
        call check_param('z0h_ratio', ps(ip_z0h), 0.0_dp, 10.0_dp, .false., .true., errflg, errmsg)
        call check_param('d0', ps(ip_d0), 0.0_dp, 200.0_dp, .true., .false., errflg, errmsg)
        call check_param('z_ref', ps(ip_zref), 0.0_dp, 1000.0_dp, .false., .false., errflg, errmsg)
        if (errflg == 0 .and. .not. (ps(ip_zref) - ps(ip_d0) > max(ps(ip_z0m), ps(ip_z0m)*ps(ip_z0h)))) then
          errflg = err_param
          write (errmsg, '(a,es12.5,a,es12.5,a,es12.5,a)', iostat=ios_msg) 'measurement height z_ref = ', ps(ip_zref), &
            ' m must lie above d0 + z0 (d0 = ', ps(ip_d0), ' m, z0m = ', ps(ip_z0m), ' m)'
        end if
        if (iopt(io_latent) == latent_resistance) then
          if (iopt(io_rsurf) == rsurf_constant) then
            call check_param('r_s', ps(ip_rs), 0.0_dp, 1.0e6_dp, .true., .true., errflg, errmsg)
          else
            call check_param('rs_a', ps(ip_rs_a), 0.0_dp, 20.0_dp, .true., .true., errflg, errmsg)
            call check_param('rs_b', ps(ip_rs_b), 0.0_dp, 20.0_dp, .true., .true., errflg, errmsg)
          end if
        end if
      end if
      if (iopt(io_canopy) == canopy_transmission) then
        call check_param('tau_sw', ps(ip_tau_sw), 0.0_dp, 1.0_dp, .false., .true., errflg, errmsg)
        call check_param('tau_lw', ps(ip_tau_lw), 0.0_dp, 1.0_dp, .false., .true., errflg, errmsg)
      else if (iopt(io_canopy) == canopy_lai) then
        call check_param('k_ext', ps(ip_k_ext), 0.0_dp, 5.0_dp, .false., .true., errflg, errmsg)
      end if
    end if
    if (iopt(io_bottom) == bottom_dirichlet .or. iopt(io_init) /= init_given) then
      call check_param('T_b', ps(ip_tb), 150.0_dp, 400.0_dp, .false., .false., errflg, errmsg)
    end if
  end subroutine check_surface

  subroutine check_soil(psoil, iopt, errflg, errmsg)
    real(dp), intent(in) :: psoil(:, :)
    integer, intent(in) :: iopt(nopt)
    integer, intent(inout) :: errflg
    character(len=*), intent(inout) :: errmsg
    integer :: ios_msg             !< status of a message write (never stops the run)
    integer :: i
    logical :: moist_rs
    moist_rs = iopt(io_top) == top_seb .and. iopt(io_turbulence) == turb_bulk .and. &
               iopt(io_latent) == latent_resistance .and. iopt(io_rsurf) == rsurf_moisture
    do i = 1, size(psoil, 2)
      if (iopt(io_soil) == soil_johansen) then
        call check_param('lambda_dry', psoil(is_lambda_dry, i), 0.0_dp, 50.0_dp, .false., .false., errflg, errmsg)
        call check_param('lambda_solids', psoil(is_lambda_solids, i), 0.0_dp, 50.0_dp, .false., .false., &
                         errflg, errmsg)
        call check_param('C_dry', psoil(is_c_dry, i), 0.0_dp, 1.0e8_dp, .false., .false., errflg, errmsg)
      else
        call check_param('lambda', psoil(is_lambda, i), 0.0_dp, 50.0_dp, .false., .false., errflg, errmsg)
        call check_param('C', psoil(is_c, i), 0.0_dp, 1.0e8_dp, .false., .false., errflg, errmsg)
      end if
      if (iopt(io_soil) == soil_johansen .or. (moist_rs .and. i == 1) .or. iopt(io_freezing) == freeze_niu_yang) then
        call check_param('porosity', psoil(is_porosity, i), 0.0_dp, 1.0_dp, .false., .false., errflg, errmsg)
      end if
      if (iopt(io_freezing) == freeze_niu_yang) then
        call check_param('psi_sat', psoil(is_psi_sat, i), 0.0_dp, 100.0_dp, .false., .true., errflg, errmsg)
        call check_param('b_clapp', psoil(is_b_clapp, i), 0.0_dp, 50.0_dp, .false., .true., errflg, errmsg)
      else if (iopt(io_freezing) == freeze_linear) then
        call check_param('dT_freeze', psoil(is_dt_freeze, i), 0.0_dp, 50.0_dp, .false., .true., errflg, errmsg)
      end if
      if (errflg /= 0) then
        write (errmsg, '(2a,i0)', iostat=ios_msg) trim(errmsg), ' at node ', i
        return
      end if
    end do
  end subroutine check_soil

  !> The published Jacobi iteration is kept for the published model only.
  subroutine check_jacobi(iopt, rset, errflg, errmsg)
    integer, intent(in) :: iopt(nopt)
    real(dp), intent(in) :: rset(nrset)
    integer, intent(inout) :: errflg
    character(len=*), intent(inout) :: errmsg
    if (iopt(io_top) /= top_seb .or. iopt(io_turbulence) /= turb_heff .or. iopt(io_canopy) /= canopy_none &
        .or. iopt(io_soil) /= soil_constant .or. iopt(io_bottom) == bottom_series .or. rset(rs_theta) /= 1) then
      errflg = err_option
      errmsg = 'solver jacobi (the published iteration) supports only the published model''s options '// &
               '(top seb, turbulence h_eff, canopy none, soil_thermal constant, bottom dirichlet or '// &
               'zero_flux, backward Euler); use solver direct'
    end if
  end subroutine check_jacobi

  subroutine check_param(name, val, lo, hi, lo_closed, hi_closed, errflg, errmsg)
    character(len=*), intent(in) :: name
    real(dp), intent(in) :: val, lo, hi
    logical, intent(in) :: lo_closed, hi_closed
    integer, intent(inout) :: errflg
    character(len=*), intent(inout) :: errmsg
    integer :: ios_msg             !< status of a message write (never stops the run)
    logical :: ok
    if (errflg /= 0) return
    ok = ieee_is_finite(val)
    if (lo_closed) then
      ok = ok .and. val >= lo
    else
      ok = ok .and. val > lo
    end if
    if (hi_closed) then
      ok = ok .and. val <= hi
    else
      ok = ok .and. val < hi
    end if
    if (.not. ok) then
      errflg = err_param
      write (errmsg, '(3a,es12.5,a,es10.3,a,es10.3,a)', iostat=ios_msg) 'parameter ', name, ' = ', val, &
        ' outside its physical bounds (', lo, ', ', hi, ')'
    end if
  end subroutine check_param

  !> Check the forcing of one level for the options in use.
  subroutine check_forcing(col, forc, errflg, errmsg)
    type(column_t), intent(in) :: col
    real(dp), intent(in) :: forc(nforc)
    integer, intent(out) :: errflg
    character(len=*), intent(out) :: errmsg
    integer :: ios_msg             !< status of a message write (never stops the run)
    errflg = 0
    errmsg = ''
    if (col%iopt(io_top) == top_seb) then
      if (.not. (ieee_is_finite(forc(if_sw)) .and. ieee_is_finite(forc(if_lw)) .and. ieee_is_finite(forc(if_ta)))) then
        errflg = err_forcing
        errmsg = 'forcing: SWdown, LWdown and Tair must be finite (gap in the forcing?)'
      else if (.not. (forc(if_ta) > t_air_min)) then
        errflg = err_forcing
        write (errmsg, '(a,f0.1,a,es12.5,a)', iostat=ios_msg) 'forcing: air temperature must be > ', t_air_min, ' K, got ', &
          forc(if_ta), ' (degrees Celsius?)'
      else if (col%iopt(io_turbulence) == turb_bulk) then
        if (.not. (ieee_is_finite(forc(if_wind)) .and. forc(if_wind) >= 0)) then
          errflg = err_forcing
          write (errmsg, '(a,es12.5)', iostat=ios_msg) 'forcing: wind speed must be finite and >= 0 m s-1, got ', forc(if_wind)
        else if (.not. (forc(if_ps) > 1.0e4_dp .and. forc(if_ps) < 2.0e5_dp)) then
          errflg = err_forcing
          write (errmsg, '(a,es12.5,a)', iostat=ios_msg) 'forcing: surface pressure must be in (1e4, 2e5) Pa, got ', forc(if_ps), &
            ' (kPa or hPa?)'
        else if (.not. (forc(if_qa) >= 0 .and. forc(if_qa) < 0.1_dp)) then
          errflg = err_forcing
          write (errmsg, '(a,es12.5,a)', iostat=ios_msg) 'forcing: specific humidity must be in [0, 0.1) kg kg-1, got ', &
            forc(if_qa), ' (g kg-1?)'
        end if
      end if
      if (errflg == 0 .and. col%iopt(io_canopy) == canopy_lai) then
        if (.not. (forc(if_lai) >= 0 .and. forc(if_lai) < 20)) then
          errflg = err_forcing
          write (errmsg, '(a,es12.5)', iostat=ios_msg) 'forcing: LAI must be in [0, 20) m2 m-2, got ', forc(if_lai)
        end if
      end if
    else if (.not. ieee_is_finite(forc(if_top))) then
      errflg = err_forcing
      errmsg = 'forcing: the prescribed top boundary value is not finite (gap in the series?)'
    else if (col%iopt(io_top) == top_temperature .and. .not. (forc(if_top) > 0)) then
      errflg = err_forcing
      write (errmsg, '(a,es12.5,a)', iostat=ios_msg) 'forcing: top temperature must be > 0 K, got ', forc(if_top), ' (Celsius?)'
    end if
    if (errflg == 0 .and. col%iopt(io_bottom) == bottom_series) then
      if (.not. (forc(if_tbot) > 0 .and. ieee_is_finite(forc(if_tbot)))) then
        errflg = err_forcing
        write (errmsg, '(a,es12.5,a)', iostat=ios_msg) 'forcing: bottom temperature must be finite and > 0 K, got ', &
          forc(if_tbot), ' (gap, or Celsius?)'
      end if
    end if
  end subroutine check_forcing

  !> Advance the column one step: t (in T^n, out T^(n+1)) [K], forcing and soil moisture at
  !> the new level, g_old the ground heat flux G^n of the old level [W m-2] (used when
  !> theta < 1 with a surface energy balance or a flux at the top).
  subroutine column_step(col, t, forc, theta, g_old, niter, errflg, errmsg)
    type(column_t), intent(in) :: col
    real(dp), intent(inout) :: t(0:)         !< temperature at every node [K]
    real(dp), intent(in) :: forc(nforc)      !< forcing at the new level
    real(dp), intent(in) :: theta(0:)        !< soil moisture at the new level [m3 m-3]
    real(dp), intent(in) :: g_old            !< G at the old level [W m-2]
    integer, intent(out) :: niter            !< Newton iterations or Jacobi sweeps used
    integer, intent(out) :: errflg
    character(len=*), intent(out) :: errmsg
    real(dp) :: a(0:col%n), c(0:col%n), c0, g1, q(1:col%n), rden(1:col%n)

    niter = 0
    call check_forcing(col, forc, errflg, errmsg)
    if (errflg /= 0) return
    if (col%iopt(io_soil) == soil_johansen .or. col%iopt(io_freezing) /= freeze_none) then
      if (.not. all(ieee_is_finite(theta(0:col%n)) .and. theta(0:col%n) >= 0 .and. theta(0:col%n) <= 1)) then
        errflg = err_forcing
        errmsg = 'forcing: soil moisture must be finite and in [0, 1] m3 m-3 at every node (gap, or percent?)'
        return
      end if
    end if
    if (freezing_active(col, theta)) then
      call step_freezing(col, t, forc, theta, g_old, niter, errflg, errmsg)
      return
    end if
    call step_coefficients(col, theta, a, c, c0, g1)
    if (col%iopt(io_solver) == solver_jacobi) then
      call step_jacobi(col, a, c, c0, g1, t, forc, niter, errflg, errmsg)
    else
      call step_elimination(col, a, c, q, rden)
      call step_direct(col, a, c, c0, g1, q, rden, t, forc, theta, g_old, niter, errflg, errmsg)
    end if
  end subroutine column_step

  !> G(Ts) [W m-2] and dG/dTs [W m-2 K-1] at the surface temperature ts [K].
  subroutine ground_flux(col, ts, forc, theta_top, g, dg)
    type(column_t), intent(in) :: col
    real(dp), intent(in) :: ts, forc(nforc), theta_top
    real(dp), intent(out) :: g, dg
    complex(dp) :: gc, comp(nflux)
    call surface_balance(cmplx(ts, cstep, kind=dp), forc, cmplx(col%psurf, 0.0_dp, kind=dp), col%iopt, &
                         col%rset, theta_top, cmplx(col%psoil(is_porosity, 0), 0.0_dp, kind=dp), &
                         gc, comp)
    g = real(gc, dp)
    dg = aimag(gc)/cstep
  end subroutine ground_flux

  !> Direct solve of one step: Thomas elimination from the bottom up (in deviations from a
  !> reference temperature), T_1 = p_1 + q_1 T_0, then the scalar surface row phi(T_0) = 0 by
  !> Newton's method with a bracket (phi increases with T_0), then back substitution.
  !> Converged when the Newton update is <= tol [K].
  subroutine step_direct(col, a, c, c0, g1, q, rden, t, forc, theta, g_old, niter, errflg, errmsg)
    type(column_t), intent(in) :: col
    real(dp), intent(in) :: a(0:), c(0:), c0, g1
    real(dp), intent(in) :: q(1:), rden(1:)  !< elimination factors (step_elimination)
    real(dp), intent(inout) :: t(0:)
    real(dp), intent(in) :: forc(nforc), theta(0:), g_old
    integer, intent(out) :: niter, errflg
    character(len=*), intent(out) :: errmsg
    integer :: ios_msg             !< status of a message write (never stops the run)
    real(dp) :: p(1:col%n), r(0:col%n)
    real(dp) :: tref, x, th, tbot, phi, dphi, d, g, dg, lo, hi, xn
    integer :: i, n

    errflg = 0
    errmsg = ''
    n = col%n
    th = col%rset(rs_theta)
    ! right-hand sides: old level plus its explicit part (theta < 1)
    r(0:n) = t(0:n)
    if (th < 1) then
      do i = 1, n - 1
        r(i) = r(i) + (1 - th)*(a(i)*(t(i - 1) - t(i)) + c(i)*(t(i + 1) - t(i)))
      end do
      if (col%iopt(io_bottom) == bottom_zero_flux) r(n) = r(n) + (1 - th)*a(n)*(t(n - 1) - t(n))
      if (col%iopt(io_top) /= top_temperature) r(0) = r(0) + (1 - th)*c0*((t(1) - t(0)) + g1*g_old)
    end if
    ! eliminate in deviations from a reference near the profile: the p_i then hold a few
    ! kelvin, not ~300 K, and the elimination adds ~100 times less round-off
    select case (col%iopt(io_bottom))
    case (bottom_dirichlet)
      tbot = col%psurf(ip_tb)
      tref = tbot
    case (bottom_series)
      tbot = forc(if_tbot)
      tref = tbot
    case default
      tbot = 0
      tref = t(n)
    end select
    if (col%iopt(io_bottom) == bottom_zero_flux) then
      p(n) = (r(n) - tref)*rden(n)
    else
      p(n) = tbot - tref
    end if
    do i = n - 1, 1, -1
      p(i) = ((r(i) - tref) + th*c(i)*p(i + 1))*rden(i)
    end do

    ! the top row, with x = T_0 - tref
    select case (col%iopt(io_top))
    case (top_temperature)
      x = forc(if_top) - tref
      niter = 1
    case (top_flux)
      x = ((r(0) - tref) + th*c0*(p(1) + g1*forc(if_top)))/(1 + th*c0*(1 - q(1)))
      niter = 1
    case default
      ! phi(x) = x - (r_0 - tref) - theta c_0 [(p_1 + (q_1 - 1) x) + g_1 G(tref + x)]
      x = t(0) - tref
      lo = -huge(1.0_dp)
      hi = huge(1.0_dp)
      do
        niter = niter + 1
        call ground_flux(col, tref + x, forc, theta(0), g, dg)
        phi = x - (r(0) - tref) - th*c0*((p(1) + (q(1) - 1)*x) + g1*g)
        dphi = 1 + th*c0*(1 - q(1)) - th*c0*g1*dg
        if (phi > 0) then
          hi = min(hi, x)
        else
          lo = max(lo, x)
        end if
        if (dphi > 0) then
          d = phi/dphi
          if (abs(d) > max_newton_step) d = sign(max_newton_step, d)
        else
          d = sign(max_newton_step, phi)
        end if
        xn = x - d
        if (.not. (xn > lo .and. xn < hi) .and. lo > -huge(1.0_dp) .and. hi < huge(1.0_dp)) then
          xn = 0.5_dp*(lo + hi)
          d = x - xn
        end if
        x = xn
        if (.not. ieee_is_finite(x) .or. tref + x <= 0) then
          errflg = err_state
          write (errmsg, '(a,es12.5,a)', iostat=ios_msg) 'direct solver: surface temperature left the physical range (', &
            tref + x, ' K); check the parameters and forcing'
          return
        end if
        if (abs(d) <= col%rset(rs_tol)) exit
        if (niter >= col%iopt(io_max_iter)) then
          errflg = err_converge
          write (errmsg, '(a,i0,a,es10.3,a,es10.3,a)', iostat=ios_msg) 'direct solver: Newton did not converge in ', niter, &
            ' iterations (last update ', d, ' K, tol ', col%rset(rs_tol), ' K); raise max_iter or tol'
          return
        end if
      end do
    end select
    t(0) = tref + x
    do i = 1, n
      x = p(i) + q(i)*x
      t(i) = tref + x
    end do
    if (.not. all(ieee_is_finite(t(0:n)))) then
      errflg = err_state
      errmsg = 'direct solver: temperatures became non-finite; check the parameters and forcing'
    end if
  end subroutine step_direct

  !> The published Jacobi iteration (docs/theory.md sec. 4): first guess T^n, simultaneous
  !> update, lagged (T_0^k)^3 in the emission term, stop when max |T^(k+1) - T^(k)| <= tol.
  subroutine step_jacobi(col, a, c, c0, g1, t, forc, niter, errflg, errmsg)
    type(column_t), intent(in) :: col
    real(dp), intent(in) :: a(0:), c(0:), c0, g1
    real(dp), intent(inout) :: t(0:)
    real(dp), intent(in) :: forc(nforc)
    integer, intent(out) :: niter, errflg
    character(len=*), intent(out) :: errmsg
    integer :: ios_msg             !< status of a message write (never stops the run)
    real(dp) :: tn(0:col%n), tk(0:col%n), tnew(0:col%n)
    real(dp) :: err, src, hb, lwabs
    integer :: i, n

    errflg = 0
    errmsg = ''
    n = col%n
    tn = t(0:n)
    tk = tn
    hb = col%psurf(ip_heff)
    if (col%iopt(io_longwave) == lw_kirchhoff) then
      lwabs = col%psurf(ip_eps)*forc(if_lw)
    else
      lwabs = forc(if_lw)
    end if
    ! same grouping as the published code: K(1-alpha) + L + hb*Ta
    src = forc(if_sw)*(1 - col%psurf(ip_alpha)) + lwabs + hb*forc(if_ta)
    niter = 0
    err = huge(1.0_dp)
    do while (err > col%rset(rs_tol))
      niter = niter + 1
      if (niter > col%iopt(io_max_iter)) then
        errflg = err_converge
        write (errmsg, '(a,i0,a,es10.3,a,es10.3,a)', iostat=ios_msg) 'jacobi solver: no convergence in ', col%iopt(io_max_iter), &
          ' sweeps (last increment ', err, ' K, tol ', col%rset(rs_tol), ' K); raise max_iter or tol'
        return
      end if
      do i = 1, n - 1
        tnew(i) = (a(i)*tk(i - 1) + c(i)*tk(i + 1) + tn(i))/(1 + a(i) + c(i))
      end do
      tnew(0) = (tn(0) + c0*(tk(1) + g1*src))/(1 + c0*(1 + g1*(hb + col%rset(rs_sigma)*col%psurf(ip_eps)*tk(0)**3)))
      if (col%iopt(io_bottom) == bottom_dirichlet) then
        tnew(n) = col%psurf(ip_tb)
      else
        tnew(n) = (tn(n) + a(n)*tk(n - 1))/(1 + a(n))
      end if
      err = maxval(abs(tnew - tk))
      if (.not. ieee_is_finite(err)) then
        errflg = err_state
        errmsg = 'jacobi solver: temperatures became non-finite; check the parameters and forcing'
        return
      end if
      tk = tnew
    end do
    t(0:n) = tk
  end subroutine step_jacobi

  !> Surface fluxes [W m-2] at a level (ix_* order) from the state t after the step and the
  !> state t_old before it. With the surface energy balance they are the terms of G(T_0);
  !> with a prescribed top temperature Qg is the heat that entered the top half cell
  !> C_0 w_0 (T_0 - T_0^n)/dt + lambda_(1/2) (T_0 - T_1)/h_1 (NaN at the initial level) and
  !> with a prescribed flux it is that flux; the other terms are NaN then.
  subroutine column_fluxes(col, t, t_old, forc, theta, first, flux)
    type(column_t), intent(in) :: col
    real(dp), intent(in) :: t(0:), t_old(0:), forc(nforc), theta(0:)
    logical, intent(in) :: first               !< the initial level (no step before it)
    real(dp), intent(out) :: flux(nflux)
    complex(dp) :: gc, fc(nflux)
    real(dp) :: a(0:col%n), c(0:col%n), c0, g1, nan, cv(0:col%n), beta(0:col%n), wl, wl_old, dwl
    nan = ieee_value(1.0_dp, ieee_quiet_nan)
    select case (col%iopt(io_top))
    case (top_seb)
      call surface_balance(cmplx(t(0), 0.0_dp, kind=dp), forc, cmplx(col%psurf, 0.0_dp, kind=dp), col%iopt, &
                           col%rset, theta(0), cmplx(col%psoil(is_porosity, 0), 0.0_dp, kind=dp), &
                           gc, fc)
      flux = real(fc, dp)
    case default
      flux = nan
      if (col%iopt(io_top) == top_flux) then
        flux(ix_qg) = forc(if_top)
      else if (.not. first) then
        if (freezing_active(col, theta)) then
          call freezing_coefficients(col, theta, t_old, a, c, c0, g1, cv, beta)
          call liquid_water(col%iopt(io_freezing), col%psoil(:, 0), theta(0), t(0), wl, dwl)
          call liquid_water(col%iopt(io_freezing), col%psoil(:, 0), theta(0), t_old(0), wl_old, dwl)
          ! the latent heat of the top half cell joins its sensible heat
          flux(ix_qg) = ((t(0) - t_old(0)) + beta(0)*(wl - wl_old) - c0*(t(1) - t(0)))/(c0*g1)
        else
          call step_coefficients(col, theta, a, c, c0, g1)
          ! c_0 g_1 = dt/(C_0 w_0), c_0 = dt lambda/(C_0 w_0 h_1)
          flux(ix_qg) = ((t(0) - t_old(0)) - c0*(t(1) - t(0)))/(c0*g1)
        end if
      end if
    end select
  end subroutine column_fluxes

  !> Spin-up: repeat forcing levels 1..nday (one day) from the profile t until the distance to
  !> the periodic profile is <= spinup_tol [K] (max norm). The day-to-day change d_k shrinks
  !> geometrically (rate r = d_k/d_(k-1), the slowest decaying mode of the column), so the
  !> distance left is d_k r/(1 - r) = d_k**2/(d_(k-1) - d_k): a stop on d_k <= tol alone would
  !> leave tol r/(1 - r), 0.04 K for a column whose slowest mode keeps 97 % a day. g is the
  !> ground heat flux of the current state (in and out).
  subroutine column_spinup(col, t, nday, forc, theta, g, ncycles, errflg, errmsg)
    type(column_t), intent(in) :: col
    real(dp), intent(inout) :: t(0:)
    integer, intent(in) :: nday                    !< steps in one day
    real(dp), intent(in) :: forc(:, :)             !< (nforc, nday) forcing at levels 1..nday
    real(dp), intent(in) :: theta(:, :)            !< (nz, nday) or (1, 1) when unused
    real(dp), intent(inout) :: g
    integer, intent(out) :: ncycles, errflg
    character(len=*), intent(out) :: errmsg
    integer :: ios_msg             !< status of a message write (never stops the run)
    real(dp) :: tstart(0:col%n), told(0:col%n), change, prev, left, flux(nflux)
    integer :: k, niter, kt

    errflg = 0
    errmsg = ''
    ncycles = 0
    change = huge(1.0_dp)
    left = huge(1.0_dp)
    do while (ncycles < col%iopt(io_spinup_max))
      ncycles = ncycles + 1
      tstart = t(0:col%n)
      do k = 1, nday
        kt = min(k, size(theta, 2))
        told = t(0:col%n)
        call column_step(col, t, forc(:, k), theta(:, kt), g, niter, errflg, errmsg)
        if (errflg /= 0) then
          errmsg = 'spin-up: '//trim(errmsg)
          return
        end if
        call column_fluxes(col, t, told, forc(:, k), theta(:, kt), .false., flux)
        g = flux(ix_qg)
      end do
      prev = change
      change = maxval(abs(t(0:col%n) - tstart))
      left = spinup_left(change, prev, ncycles)
      if (change == 0 .or. left <= col%rset(rs_spinup_tol)) return
    end do
    errflg = err_spinup
    write (errmsg, '(a,i0,a,es10.3,a,es10.3,a)', iostat=ios_msg) 'spin-up: the profile was not periodic after ', &
      col%iopt(io_spinup_max), ' repeats of the first day (distance left ', left, ' K, tol ', &
      col%rset(rs_spinup_tol), ' K); raise spinup_max_cycles or spinup_tol'
  end subroutine column_spinup

  !> Distance to the periodic profile left after a spin-up day whose change is `change` [K]
  !> (`prev` the day before, `cycle` the days done): change*r/(1 - r), r = change/prev; huge
  !> while it cannot be estimated (the first day, or a change that did not shrink).
  pure function spinup_left(change, prev, cycle) result(left)
    real(dp), intent(in) :: change, prev
    integer, intent(in) :: cycle
    real(dp) :: left
    left = huge(1.0_dp)
    if (cycle > 1 .and. change < prev) left = change*(change/(prev - change))
  end function spinup_left

  !> Heat content of the column sum_i C_i w_i T_i [J m-2] over the prognostic nodes (a
  !> Dirichlet or series bottom node and a prescribed top node are excluded), at moisture theta.
  function heat_content(col, t, theta) result(hc)
    type(column_t), intent(in) :: col
    real(dp), intent(in) :: t(0:), theta(0:)
    real(dp) :: hc, lam(0:col%n), cv(0:col%n), wl(0:col%n), dwl
    integer :: first, last, i
    call node_properties(col%iopt(io_soil), col%psoil, theta, lam, cv)
    first = 0
    last = col%n
    if (col%iopt(io_bottom) /= bottom_zero_flux) last = col%n - 1
    if (col%iopt(io_top) == top_temperature) first = 1
    if (col%iopt(io_freezing) /= freeze_none) then
      ! sensible heat at the properties of the present ice, plus the latent heat of the
      ! liquid water (enthalpy relative to ice at 0 K, eq. 15)
      hc = 0
      do i = first, last
        call liquid_water(col%iopt(io_freezing), col%psoil(:, i), theta(i), t(i), wl(i), dwl)
      end do
      call frozen_properties(col%iopt(io_soil), col%psoil, theta, wl, lam, cv)
      do i = first, last
        hc = hc + col%w(i)*(cv(i)*t(i) + rho_water*l_fusion*wl(i))
      end do
      return
    end if
    hc = sum(cv(first:last)*col%w(first:last)*t(first:last))
  end function heat_content

  !> Whether a step solves the phase change: the option is on and some node holds water.
  !> Without water the latent terms vanish and the step is the one without the option.
  pure logical function freezing_active(col, theta)
    type(column_t), intent(in) :: col
    real(dp), intent(in) :: theta(0:)
    freezing_active = col%iopt(io_freezing) /= freeze_none
    if (freezing_active) freezing_active = any(theta(0:col%n) > 0)
  end function freezing_active

  !> Coefficients of a step with freezing (eq. 8, 16): the soil properties at the liquid and
  !> ice of the old level t_old (as CLM and Noah-MP compute them before the phase change),
  !> the heat capacity cv [J m-3 K-1] and beta_i = rho_w L_f / C_i [K m3 m-3] of every node.
  pure subroutine freezing_coefficients(col, theta, t_old, a, c, c0, g1, cv, beta)
    type(column_t), intent(in) :: col
    real(dp), intent(in) :: theta(0:), t_old(0:)
    real(dp), intent(out) :: a(0:), c(0:), c0, g1, cv(0:), beta(0:)
    real(dp) :: lam(0:col%n), wl(0:col%n), dwl
    integer :: i
    do i = 0, col%n
      call liquid_water(col%iopt(io_freezing), col%psoil(:, i), theta(i), t_old(i), wl(i), dwl)
    end do
    call frozen_properties(col%iopt(io_soil), col%psoil, theta, wl, lam, cv)
    call coefficients(col%h, col%w, col%dt, lam, cv, a, c, c0, g1)
    beta = rho_water*l_fusion/cv
  end subroutine freezing_coefficients

  !> One step with freeze-thaw (docs/theory.md eq. 17): every prognostic row of (8) gains the
  !> latent heat beta_i (wl_i(T_i) - wl_i(T_i^n)) on its left-hand side, so the rows are
  !> nonlinear in every node. Newton's method on the whole column: the Jacobian is the step's
  !> tridiagonal matrix plus beta_i dwl_i/dT on the diagonal (and dG/dTs in the surface row),
  !> solved by Thomas elimination; a backtracking line search on the largest residual keeps
  !> the iteration from cycling across the kinks of the freezing curve. Converged when the
  !> Newton update or every row's residual is <= tol [K]: the phase change is implicit, not
  !> lagged.
  subroutine step_freezing(col, t, forc, theta, g_old, niter, errflg, errmsg)
    type(column_t), intent(in) :: col
    real(dp), intent(inout) :: t(0:)
    real(dp), intent(in) :: forc(nforc), theta(0:), g_old
    integer, intent(out) :: niter, errflg
    character(len=*), intent(out) :: errmsg
    real(dp) :: a(0:col%n), c(0:col%n), c0, g1, cv(0:col%n), beta(0:col%n)
    real(dp) :: tn(0:col%n), r(0:col%n), wl_old(0:col%n), x(0:col%n), res(0:col%n), d(0:col%n)
    real(dp) :: jd(0:col%n), jl(0:col%n), ju(0:col%n), xt(0:col%n), rt(0:col%n)
    real(dp) :: th, dwl, g, dg, rnorm, rnew, step, dmax
    integer :: i, n, first, last, k
    integer :: ios        ! status of a message write (never stops the run)

    errflg = 0
    errmsg = ''
    n = col%n
    th = col%rset(rs_theta)
    tn = t(0:n)
    call freezing_coefficients(col, theta, tn, a, c, c0, g1, cv, beta)
    do i = 0, n
      call liquid_water(col%iopt(io_freezing), col%psoil(:, i), theta(i), tn(i), wl_old(i), dwl)
    end do
    ! the known part of every row: old level, its latent heat and the explicit part
    r = tn + beta*wl_old
    if (th < 1) then
      do i = 1, n - 1
        r(i) = r(i) + (1 - th)*(a(i)*(tn(i - 1) - tn(i)) + c(i)*(tn(i + 1) - tn(i)))
      end do
      if (col%iopt(io_bottom) == bottom_zero_flux) r(n) = r(n) + (1 - th)*a(n)*(tn(n - 1) - tn(n))
      if (col%iopt(io_top) /= top_temperature) r(0) = r(0) + (1 - th)*c0*((tn(1) - tn(0)) + g1*g_old)
    end if
    first = 0
    if (col%iopt(io_top) == top_temperature) first = 1
    last = n
    x = tn
    select case (col%iopt(io_bottom))
    case (bottom_dirichlet)
      x(n) = col%psurf(ip_tb)
      last = n - 1
    case (bottom_series)
      x(n) = forc(if_tbot)
      last = n - 1
    end select
    if (first == 1) x(0) = forc(if_top)
    call residual(x, res, jd, jl, ju)
    rnorm = maxval(abs(res(first:last)))
    niter = 0
    do
      niter = niter + 1
      ! Newton update d: J d = -res over the rows first..last (Thomas)
      call thomas(jl, jd, ju, -res, d)
      dmax = maxval(abs(d(first:last)))
      if (dmax > max_newton_step) d = d*(max_newton_step/dmax)
      step = 1
      do k = 1, 30
        xt = x
        xt(first:last) = x(first:last) + step*d(first:last)
        call residual(xt, rt)
        rnew = maxval(abs(rt(first:last)))
        if (rnew < rnorm .or. rnew == 0) exit
        step = 0.5_dp*step
      end do
      ! no decrease along d (round-off near the solution): take the full update
      if (k > 30) xt(first:last) = x(first:last) + d(first:last)
      x = xt
      if (.not. all(ieee_is_finite(x)) .or. any(x <= 0)) then
        errflg = err_state
        write (errmsg, '(a)', iostat=ios) 'freezing step: temperatures left the physical range; '// &
          'check the parameters and forcing'
        return
      end if
      call residual(x, res, jd, jl, ju)
      rnorm = maxval(abs(res(first:last)))
      ! converged: the Newton update, or the residual of every row (K; an energy error of at
      ! most tol C_i w_i per node), is below tol. Across a kink of a steep freezing curve
      ! Newton can cycle at the scale of round-off times the curve's slope (beta dwl/dT up to
      ! ~1e4 K/K): an update that no line search could shorten into a descent then ends the
      ! iteration once it is below 1000 tol.
      if (dmax <= col%rset(rs_tol) .or. rnorm <= col%rset(rs_tol)) exit
      if (k > 30 .and. dmax <= 1000*col%rset(rs_tol)) exit
      if (niter >= col%iopt(io_max_iter)) then
        errflg = err_converge
        write (errmsg, '(a,i0,a,es10.3,a,es10.3,a)', iostat=ios) 'freezing step: Newton did not converge in ', &
          niter, &
          ' iterations (last update ', dmax, ' K, tol ', col%rset(rs_tol), ' K); raise max_iter or tol'
        return
      end if
    end do
    t(0:n) = x

  contains

    !> Residuals of the rows first..last at temperatures y (K), and optionally the Jacobian
    !> (diagonal, lower, upper).
    subroutine residual(y, f, dia, low, upp)
      real(dp), intent(in) :: y(0:)
      real(dp), intent(out) :: f(0:)
      real(dp), intent(out), optional :: dia(0:), low(0:), upp(0:)
      real(dp) :: wl, dw
      integer :: j
      f = 0
      if (present(dia)) then
        dia = 1
        low = 0
        upp = 0
      end if
      do j = first, last
        call liquid_water(col%iopt(io_freezing), col%psoil(:, j), theta(j), y(j), wl, dw)
        f(j) = y(j) + beta(j)*wl - r(j)
        if (present(dia)) dia(j) = 1 + beta(j)*dw
        if (j == 0) then
          if (col%iopt(io_top) == top_flux) then
            g = forc(if_top)
            dg = 0
          else
            call ground_flux(col, y(0), forc, theta(0), g, dg)
          end if
          f(0) = f(0) - th*c0*((y(1) - y(0)) + g1*g)
          if (present(dia)) then
            dia(0) = dia(0) + th*c0*(1 - g1*dg)
            upp(0) = -th*c0
          end if
        else if (j == n) then
          f(n) = f(n) - th*a(n)*(y(n - 1) - y(n))
          if (present(dia)) then
            dia(n) = dia(n) + th*a(n)
            low(n) = -th*a(n)
          end if
        else
          f(j) = f(j) - th*(a(j)*(y(j - 1) - y(j)) + c(j)*(y(j + 1) - y(j)))
          if (present(dia)) then
            dia(j) = dia(j) + th*(a(j) + c(j))
            if (j > first) low(j) = -th*a(j)
            if (j < last) upp(j) = -th*c(j)
          end if
        end if
      end do
    end subroutine residual

    !> Solve the tridiagonal system of rows first..last (the other entries of sol are 0).
    subroutine thomas(low, dia, upp, rhs, sol)
      real(dp), intent(in) :: low(0:), dia(0:), upp(0:), rhs(0:)
      real(dp), intent(out) :: sol(0:)
      real(dp) :: cp(0:n), dp_(0:n), den
      integer :: j
      sol = 0
      cp(first) = upp(first)/dia(first)
      dp_(first) = rhs(first)/dia(first)
      do j = first + 1, last
        den = dia(j) - low(j)*cp(j - 1)
        cp(j) = upp(j)/den
        dp_(j) = (rhs(j) - low(j)*dp_(j - 1))/den
      end do
      sol(last) = dp_(last)
      do j = last - 1, first, -1
        sol(j) = dp_(j) - cp(j)*sol(j + 1)
      end do
    end subroutine thomas

  end subroutine step_freezing

end module sebcal_column

!> The flat interface of sebcal wrapped for Python (f90wrap): scalars, explicit-shape real(dp)
!> arrays, an error flag and a message. No derived types, no module state of its own.
!>
!> Parameter vector params(7), in this order (SI):
!>   1 alpha [-], 2 emissivity [-], 3 lambda [W m-1 K-1], 4 heat capacity C [J m-3 K-1],
!>   5 T_b [K], 6 h_eff = h (1 + 1/beta) [W m-2 K-1], 7 Bowen ratio beta [-] (<= 0: unknown)
!> Option codes: sebcal_const (solver 1 direct / 2 jacobi; longwave 1 paper / 2 kirchhoff;
!> bottom 1 dirichlet / 2 zero_flux; init 1 uniform / 2 profile / 3 spinup).
!> Flux rows (nflux = 7): SWnet, LWdown, LWup, Qh, Qle, Qg, Qh+Qle [W m-2].
module sebcal_api
  use sebcal_const
  use sebcal_column, only: column_t, column_setup, heat_content
  use sebcal_simulate, only: simulate_run, initial_state
  use sebcal_namelist, only: nml_settings_t, read_sebcal_namelist
  use sebcal_scheme
  implicit none
  private
  public :: sebcal_api_simulate, sebcal_api_read_namelist, sebcal_api_constants
  public :: sebcal_api_heat_content
  public :: sebcal_api_init, sebcal_api_spinup, sebcal_api_run, sebcal_api_get_grid
  public :: sebcal_api_get_state, sebcal_api_set_state, sebcal_api_finalize

contains

  !> A whole forward run: initial state (uniform, profile or spin-up), then nt steps.
  !> Forcing and outputs are at time levels 0..nt (columns 1..nt+1); step k uses the forcing at
  !> level k. Outputs at level 0 are the initial state with the forcing at level 0.
  subroutine sebcal_api_simulate(z, dx, dt, sw, lw, ta, params, solver, longwave, bottom, &
                                 init, t_init, tol, max_iter, spinup_tol, spinup_max, t_out, flux_out, &
                                 niter, ncycles, errmsg, errflg)
    real(dp), intent(in) :: z(:)                     !< node depths [m], (nz) (used when dx <= 0)
    real(dp), intent(in) :: dx                       !< uniform spacing [m], or <= 0
    real(dp), intent(in) :: dt                       !< time step [s]
    real(dp), intent(in) :: sw(:)                    !< K_down at levels 0..nt [W m-2], (nt+1)
    real(dp), intent(in) :: lw(:)                    !< L_down [W m-2], (nt+1)
    real(dp), intent(in) :: ta(:)                    !< air temperature [K], (nt+1)
    real(dp), intent(in) :: params(7)                !< see the module header
    integer, intent(in) :: solver, longwave, bottom, init
    real(dp), intent(in) :: t_init(:)                !< initial profile [K] (init = 2), (nz)
    real(dp), intent(in) :: tol                      !< solver tolerance [K]
    integer, intent(in) :: max_iter                  !< Newton iterations / Jacobi sweeps per step
    real(dp), intent(in) :: spinup_tol               !< [K]
    integer, intent(in) :: spinup_max                !< days
    real(dp), intent(inout) :: t_out(:, :)           !< soil temperature [K], (nz, nt+1)
    real(dp), intent(inout) :: flux_out(:, :)        !< surface fluxes [W m-2], (nflux, nt+1)
    integer, intent(inout) :: niter(:)               !< solver iterations per step, (nt)
    integer, intent(out) :: ncycles                  !< spin-up days used
    character(len=errmsg_len), intent(out) :: errmsg
    integer, intent(out) :: errflg
    type(column_t) :: col
    real(dp) :: t0(size(z))
    integer :: nz, nt

    ncycles = 0
    errflg = 0
    errmsg = ''
    nz = size(z)
    nt = size(sw) - 1
    call check_size('lw', size(lw), nt + 1, errflg, errmsg)
    call check_size('ta', size(ta), nt + 1, errflg, errmsg)
    call check_size('t_init', size(t_init), nz, errflg, errmsg)
    call check_size('t_out rows', size(t_out, 1), nz, errflg, errmsg)
    call check_size('t_out columns', size(t_out, 2), nt + 1, errflg, errmsg)
    call check_size('flux_out rows', size(flux_out, 1), nflux, errflg, errmsg)
    call check_size('flux_out columns', size(flux_out, 2), nt + 1, errflg, errmsg)
    call check_size('niter', size(niter), nt, errflg, errmsg)
    if (errflg /= 0) return
    call column_setup(col, nz, z, dx, dt, params(1), params(2), params(3), params(4), params(5), params(6), &
                      params(7), solver, longwave, bottom, tol, max_iter, errflg, errmsg)
    if (errflg /= 0) return
    call initial_state(col, init, t_init, nt, sw, lw, ta, spinup_tol, spinup_max, t0, ncycles, errflg, errmsg)
    if (errflg /= 0) return
    call simulate_run(col, t0, nt, sw, lw, ta, t_out, flux_out, niter, errflg, errmsg)
  end subroutine sebcal_api_simulate

  !> Column heat content sum_i C w_i T_i [J m-2] of profiles t(nz, m) (Dirichlet node excluded).
  subroutine sebcal_api_heat_content(z, dx, params, bottom, t, hc, errmsg, errflg)
    real(dp), intent(in) :: z(:)          !< node depths [m], (nz)
    real(dp), intent(in) :: dx            !< uniform spacing [m], or <= 0
    real(dp), intent(in) :: params(7)
    integer, intent(in) :: bottom
    real(dp), intent(in) :: t(:, :)       !< profiles [K], (nz, m)
    real(dp), intent(inout) :: hc(:)      !< heat content [J m-2], (m)
    character(len=errmsg_len), intent(out) :: errmsg
    integer, intent(out) :: errflg
    type(column_t) :: col
    integer :: k
    errflg = 0
    errmsg = ''
    call check_size('t rows', size(t, 1), size(z), errflg, errmsg)
    call check_size('hc', size(hc), size(t, 2), errflg, errmsg)
    if (errflg /= 0) return
    call column_setup(col, size(z), z, dx, 3600.0_dp, params(1), params(2), params(3), params(4), params(5), &
                      params(6), params(7), solver_direct, lw_paper, bottom, 1.0_dp, 1, errflg, errmsg)
    if (errflg /= 0) return
    do k = 1, size(t, 2)
      hc(k) = heat_content(col, t(:, k))
    end do
  end subroutine sebcal_api_heat_content

  !> Read a sebcal namelist file with the scheme's own reader and return what it holds.
  subroutine sebcal_api_read_namelist(path, nz, z, dx, params, dt, solver, longwave, bottom, &
                                      init, t_init, tol, max_iter, spinup_tol, spinup_max, errmsg, errflg)
    character(len=*), intent(in) :: path
    integer, intent(out) :: nz                       !< nodes in the namelist grid
    real(dp), intent(inout) :: z(:)                  !< node depths [m] (1..nz), (nz_max)
    real(dp), intent(out) :: dx                      !< uniform spacing [m] or 0
    real(dp), intent(inout) :: params(7)
    real(dp), intent(out) :: dt, tol, spinup_tol
    integer, intent(out) :: solver, longwave, bottom, init, max_iter, spinup_max
    real(dp), intent(inout) :: t_init(:)             !< initial profile [K] (1..nz), (nz_max)
    character(len=errmsg_len), intent(out) :: errmsg
    integer, intent(out) :: errflg
    type(nml_settings_t) :: s

    nz = 0; dx = 0; dt = 0; tol = 0; spinup_tol = 0
    solver = 0; longwave = 0; bottom = 0; init = 0; max_iter = 0; spinup_max = 0
    call read_sebcal_namelist(path, s, errflg, errmsg)
    if (errflg /= 0) return
    if (s%nz > size(z) .or. s%nz > size(t_init)) then
      errflg = err_namelist
      write (errmsg, '(a,i0,a,i0)') 'namelist grid has ', s%nz, ' nodes, more than the arrays hold: ', &
        min(size(z), size(t_init))
      return
    end if
    nz = s%nz
    z(1:nz) = s%z
    dx = s%dx
    params = [s%alpha, s%eps, s%lam, s%cv, s%tb, s%hb, s%beta]
    dt = s%dt; tol = s%tol; spinup_tol = s%spinup_tol
    solver = s%solver; longwave = s%lwopt; bottom = s%bottom; init = s%init
    max_iter = s%max_iter; spinup_max = s%spinup_max
    t_init(1:nz) = s%t_init
  end subroutine sebcal_api_read_namelist

  !> Constants the Python side checks its own copies against.
  subroutine sebcal_api_constants(sigma, nflux_out, max_nodes_out)
    real(dp), intent(out) :: sigma        !< Stefan-Boltzmann constant [W m-2 K-4]
    integer, intent(out) :: nflux_out     !< rows of the flux arrays
    integer, intent(out) :: max_nodes_out !< largest grid a namelist can give
    sigma = sigma_sb
    nflux_out = nflux
    max_nodes_out = max_nodes
  end subroutine sebcal_api_constants

  ! Host-style routines, forwarded so that Python can test exactly what a host calls.

  subroutine sebcal_api_init(nml_file, nz, errmsg, errflg)
    character(len=*), intent(in) :: nml_file
    integer, intent(out) :: nz
    character(len=errmsg_len), intent(out) :: errmsg
    integer, intent(out) :: errflg
    call sebcal_scheme_init(nml_file, nz, errmsg, errflg)
  end subroutine sebcal_api_init

  subroutine sebcal_api_spinup(sw, lw, ta, ncycles, errmsg, errflg)
    real(dp), intent(in) :: sw(:), lw(:), ta(:)   !< one day of forcing, (nday)
    integer, intent(out) :: ncycles
    character(len=errmsg_len), intent(out) :: errmsg
    integer, intent(out) :: errflg
    errflg = 0
    call check_size('lw', size(lw), size(sw), errflg, errmsg)
    call check_size('ta', size(ta), size(sw), errflg, errmsg)
    if (errflg /= 0) return
    call sebcal_scheme_spinup(size(sw), sw, lw, ta, ncycles, errmsg, errflg)
  end subroutine sebcal_api_spinup

  subroutine sebcal_api_run(sw, lw, ta, t_soil, flux, errmsg, errflg)
    real(dp), intent(in) :: sw(:), lw(:), ta(:)   !< forcing at the end of each step, (nsteps)
    real(dp), intent(inout) :: t_soil(:, :)       !< [K], (nz, nsteps)
    real(dp), intent(inout) :: flux(:, :)         !< [W m-2], (nflux, nsteps)
    character(len=errmsg_len), intent(out) :: errmsg
    integer, intent(out) :: errflg
    errflg = 0
    call check_size('lw', size(lw), size(sw), errflg, errmsg)
    call check_size('ta', size(ta), size(sw), errflg, errmsg)
    call check_size('t_soil columns', size(t_soil, 2), size(sw), errflg, errmsg)
    call check_size('flux rows', size(flux, 1), nflux, errflg, errmsg)
    call check_size('flux columns', size(flux, 2), size(sw), errflg, errmsg)
    if (errflg /= 0) return
    call sebcal_scheme_run(size(sw), size(t_soil, 1), sw, lw, ta, t_soil, flux, errmsg, errflg)
  end subroutine sebcal_api_run

  subroutine sebcal_api_get_grid(z, errmsg, errflg)
    real(dp), intent(inout) :: z(:)      !< (nz)
    character(len=errmsg_len), intent(out) :: errmsg
    integer, intent(out) :: errflg
    call sebcal_scheme_get_grid(size(z), z, errmsg, errflg)
  end subroutine sebcal_api_get_grid

  subroutine sebcal_api_get_state(t, errmsg, errflg)
    real(dp), intent(inout) :: t(:)      !< (nz)
    character(len=errmsg_len), intent(out) :: errmsg
    integer, intent(out) :: errflg
    call sebcal_scheme_get_state(size(t), t, errmsg, errflg)
  end subroutine sebcal_api_get_state

  subroutine sebcal_api_set_state(t, errmsg, errflg)
    real(dp), intent(in) :: t(:)      !< (nz)
    character(len=errmsg_len), intent(out) :: errmsg
    integer, intent(out) :: errflg
    call sebcal_scheme_set_state(size(t), t, errmsg, errflg)
  end subroutine sebcal_api_set_state

  subroutine sebcal_api_finalize(errmsg, errflg)
    character(len=errmsg_len), intent(out) :: errmsg
    integer, intent(out) :: errflg
    call sebcal_scheme_finalize(errmsg, errflg)
  end subroutine sebcal_api_finalize

  ! Record a size mismatch (the first one) in errflg/errmsg of the caller.
  subroutine check_size(name, got, want, errflg, errmsg)
    character(len=*), intent(in) :: name
    integer, intent(in) :: got, want
    integer, intent(inout) :: errflg
    character(len=*), intent(inout) :: errmsg
    if (errflg /= 0) return
    if (got /= want) then
      errflg = err_option
      write (errmsg, '(3a,i0,a,i0)') 'array ', name, ' has size ', got, ', expected ', want
    end if
  end subroutine check_size

end module sebcal_api

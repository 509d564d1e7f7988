!> sebcal as a CCPP physics scheme (CCPP "CCPP-compliant physics parameterizations": _init,
!> _run, _finalize; metadata in sebcal_ccpp.meta; docs/frameworks.md).
!>
!> The host owns the state: the soil temperature at the scheme's nodes (horizontal_loop_extent,
!> vertical_dimension_of_sebcal_nodes) and the ground heat flux of that state, and the
!> parameters of every column. _run advances one physics time step for a block of columns.
!> The module keeps only the configuration read from the namelist at _init (options, node
!> depths, time step): it is the same for every column and block, as CCPP schemes' namelist
!> settings are. No STOP, no I/O in _run, errmsg/errflg on every error, every intent(out)
!> argument set before every return, and on an error no host array changed.
!>
!> Conventions: fluxes in W m-2; sensible and latent heat positive upward; the soil heat flux
!> positive upward (upward_heat_flux_in_soil = -G, G the flux into the soil); temperatures at
!> the scheme's nodes (node 1 is the surface with a surface energy balance), not at layer
!> centres.
module sebcal_ccpp
  use, intrinsic :: ieee_arithmetic, only: ieee_is_finite
  use machine, only: kind_phys
  use sebcal_const
  use sebcal_column, only: column_t, column_setup, column_step, column_fluxes
  use sebcal_namelist, only: nml_settings_t, read_sebcal_namelist
  implicit none
  private
  public :: sebcal_ccpp_init, sebcal_ccpp_run, sebcal_ccpp_finalize

  logical, save :: initialized = .false.
  integer, save :: cfg_nz = 0
  real(dp), allocatable, save :: cfg_z(:)
  real(dp), save :: cfg_dx = 0, cfg_dt = 0
  integer, save :: cfg_iopt(nopt) = 0
  real(dp), save :: cfg_rset(nrset) = 0

contains

!> \section arg_table_sebcal_ccpp_init Argument Table
!! \htmlinclude sebcal_ccpp_init.html
!!
  subroutine sebcal_ccpp_init(nml_file, nz, dt, errmsg, errflg)
    character(len=*), intent(in) :: nml_file
    integer, intent(in) :: nz
    real(kind_phys), intent(in) :: dt
    character(len=*), intent(out) :: errmsg
    integer, intent(out) :: errflg
    type(nml_settings_t) :: s
    character(len=errmsg_len) :: msg
    integer :: ios_msg             !< status of a message write (never stops the run)

    errmsg = ''
    errflg = 0
    call read_sebcal_namelist(nml_file, s, errflg, msg)
    if (errflg /= 0) then
      errflg = 1
      errmsg = 'sebcal_ccpp_init: '//trim(msg)
      return
    end if
    if (s%nz /= nz) then
      errflg = 1
      write (errmsg, '(a,i0,a,i0,a)', iostat=ios_msg) 'sebcal_ccpp_init: the namelist grid has ', s%nz, &
        ' nodes but the host gives vertical_dimension_of_sebcal_nodes = ', nz, '; make them agree'
      return
    end if
    if (abs(real(dt, dp) - s%dt) > 1.0e-9_dp*s%dt) then
      errflg = 1
      write (errmsg, '(a,es12.5,a,es12.5,a)', iostat=ios_msg) 'sebcal_ccpp_init: the namelist dt is ', s%dt, &
        ' s but the host physics time step is ', real(dt, dp), ' s; make them agree'
      return
    end if
    if (s%iopt(io_solver) /= solver_direct) then
      errflg = 1
      errmsg = 'sebcal_ccpp_init: the CCPP scheme runs the direct solver; set solver = ''direct'''
      return
    end if
    if (allocated(cfg_z)) deallocate (cfg_z)
    allocate (cfg_z(nz))
    cfg_z = s%z
    cfg_nz = nz
    cfg_dx = s%dx
    cfg_dt = s%dt
    cfg_iopt = s%iopt
    cfg_rset = s%rset
    initialized = .true.
  end subroutine sebcal_ccpp_init

!> \section arg_table_sebcal_ccpp_run Argument Table
!! \htmlinclude sebcal_ccpp_run.html
!!
  subroutine sebcal_ccpp_run(im, nz, npsurf_h, npsoil_h, dt, sw_down, lw_down, t_air, wind, p_surf, &
                             q_air, lai, top_value, t_deep, theta, psurf, psoil, t_soil, g_state, &
                             sw_net, lw_net, lw_up, hflx, lhflx, gflx, sbc, errmsg, errflg)
    integer, intent(in) :: im, nz, npsurf_h, npsoil_h
    real(kind_phys), intent(in) :: dt
    real(kind_phys), intent(in) :: sw_down(:), lw_down(:), t_air(:), wind(:), p_surf(:), q_air(:)
    real(kind_phys), intent(in) :: lai(:), top_value(:), t_deep(:)
    real(kind_phys), intent(in) :: theta(:, :)
    real(kind_phys), intent(in) :: psurf(:, :)
    real(kind_phys), intent(in) :: psoil(:, :, :)
    real(kind_phys), intent(inout) :: t_soil(:, :)
    real(kind_phys), intent(inout) :: g_state(:)
    real(kind_phys), intent(out) :: sw_net(:), lw_net(:), lw_up(:), hflx(:), lhflx(:), gflx(:)
    ! the host's Stefan-Boltzmann constant (ccpp-physics con_sbc): a required argument, as
    ! capgen supplies every argument of the table (5.67e-8 reproduces the published model)
    real(kind_phys), intent(in) :: sbc
    character(len=*), intent(out) :: errmsg
    integer, intent(out) :: errflg
    type(column_t) :: col
    real(dp) :: t(nz), told(nz), forc(nforc), flux(nflux), th(nz), rset(nrset), ps(npsurf)
    real(dp) :: pso(npsoil, nz), g
    ! the new state of the block, copied to the host's arrays only when every column succeeded
    real(dp) :: t_new(nz, im), g_new(im), f_new(6, im)
    integer :: i, niter, flag
    character(len=errmsg_len) :: msg
    integer :: ios_msg             !< status of a message write (never stops the run)

    errmsg = ''
    errflg = 0
    sw_net = 0
    lw_net = 0
    lw_up = 0
    hflx = 0
    lhflx = 0
    gflx = 0
    if (.not. initialized) then
      errflg = 1
      errmsg = 'sebcal_ccpp_run: sebcal_ccpp_init has not run'
      return
    end if
    if (nz /= cfg_nz .or. npsurf_h /= npsurf .or. npsoil_h /= npsoil) then
      errflg = 1
      write (errmsg, '(a,3(i0,a),3(i0,a))', iostat=ios_msg) 'sebcal_ccpp_run: dimensions (nz, npsurf, npsoil) = (', nz, &
        ', ', npsurf_h, ', ', npsoil_h, ') but the scheme has (', cfg_nz, ', ', npsurf, ', ', npsoil, ')'
      return
    end if
    if (abs(real(dt, dp) - cfg_dt) > 1.0e-9_dp*cfg_dt) then
      errflg = 1
      write (errmsg, '(a,es12.5,a,es12.5,a)', iostat=ios_msg) 'sebcal_ccpp_run: dt = ', real(dt, dp), &
        ' s differs from the namelist dt ', cfg_dt, ' s'
      return
    end if
    if (size(t_soil, 1) < im .or. size(t_soil, 2) /= nz .or. size(psurf, 2) /= npsurf .or. &
        size(psoil, 2) /= nz .or. size(psoil, 3) /= npsoil) then
      errflg = 1
      errmsg = 'sebcal_ccpp_run: array shapes differ from (horizontal_loop_extent, '// &
               'vertical_dimension_of_sebcal_nodes[, number_of_sebcal_..._parameters])'
      return
    end if
    if (.not. (sbc > 0 .and. sbc < 1.0e-6_kind_phys)) then
      errflg = 1
      write (errmsg, '(a,es12.5,a)', iostat=ios_msg) 'sebcal_ccpp_run: stefan_boltzmann_constant = ', real(sbc, dp), &
        ' W m-2 K-4 is not a Stefan-Boltzmann constant (5.670374419e-8)'
      return
    end if
    rset = cfg_rset
    rset(rs_sigma) = real(sbc, dp)
    do i = 1, im
      ps = real(psurf(i, :), dp)
      if (cfg_iopt(io_top) == top_seb .and. cfg_iopt(io_turbulence) == turb_heff .and. &
          .not. ps(ip_beta) > 0) then
        ! a host needs sensible and latent heat apart; h_eff alone gives only their sum
        call fail(i, 'turbulence = ''h_eff'' needs a Bowen ratio > 0 (surface parameter 4) '// &
                  'to split the turbulent flux into sensible and latent heat')
        return
      end if
      if (.not. all(ieee_is_finite(t_soil(i, :)) .and. t_soil(i, :) > 0)) then
        call fail(i, 'the soil temperature state must be finite and > 0 K at every node')
        return
      end if
      pso = transpose(real(psoil(i, :, :), dp))
      call column_setup(col, cfg_z, cfg_dx, cfg_dt, ps, pso, cfg_iopt, rset, flag, msg)
      if (flag /= 0) then
        call fail(i, msg)
        return
      end if
      forc = 0
      forc(if_sw) = sw_down(i)
      forc(if_lw) = lw_down(i)
      forc(if_ta) = t_air(i)
      forc(if_wind) = wind(i)
      forc(if_ps) = p_surf(i)
      forc(if_qa) = q_air(i)
      forc(if_lai) = lai(i)
      forc(if_top) = top_value(i)
      forc(if_tbot) = t_deep(i)
      th = real(theta(i, :), dp)
      t = real(t_soil(i, :), dp)
      told = t
      g = real(g_state(i), dp)
      call column_step(col, t, forc, th, g, niter, flag, msg)
      if (flag /= 0) then
        call fail(i, msg)
        return
      end if
      call column_fluxes(col, t, told, forc, th, .false., flux)
      t_new(:, i) = t
      g_new(i) = flux(ix_qg)
      f_new(:, i) = [flux(ix_swnet), flux(ix_lwnet), flux(ix_lwup), flux(ix_qh), flux(ix_qle), -flux(ix_qg)]
    end do
    do i = 1, im
      t_soil(i, :) = t_new(:, i)
    end do
    g_state(1:im) = g_new
    sw_net(1:im) = f_new(1, :)
    lw_net(1:im) = f_new(2, :)
    lw_up(1:im) = f_new(3, :)
    hflx(1:im) = f_new(4, :)
    lhflx(1:im) = f_new(5, :)
    gflx(1:im) = f_new(6, :)

  contains

    !> An error in column i: the message names the column; no host array has been changed.
    subroutine fail(i, text)
      integer, intent(in) :: i
      character(len=*), intent(in) :: text
      errflg = 1
      write (errmsg, '(a,i0,2a)', iostat=ios_msg) 'sebcal_ccpp_run: column ', i, ': ', trim(text)
    end subroutine fail

  end subroutine sebcal_ccpp_run

!> \section arg_table_sebcal_ccpp_finalize Argument Table
!! \htmlinclude sebcal_ccpp_finalize.html
!!
  subroutine sebcal_ccpp_finalize(errmsg, errflg)
    character(len=*), intent(out) :: errmsg
    integer, intent(out) :: errflg
    errmsg = ''
    errflg = 0
    if (allocated(cfg_z)) deallocate (cfg_z)
    initialized = .false.
  end subroutine sebcal_ccpp_finalize

end module sebcal_ccpp

!> Error paths of sebcal_ccpp: each case prints one line "case errflg unchanged message"
!> (unchanged: whether the host's state arrays were left as they were) and the program never
!> stops early, so a test can check every case.
!>
!> usage: ccpp_errors NAMELIST NZ DT   (the namelist's own nz and dt)
program ccpp_errors
  use, intrinsic :: ieee_arithmetic, only: ieee_value, ieee_quiet_nan
  use machine, only: kind_phys
  use sebcal_const, only: npsurf, npsoil, errmsg_len, is_lambda, ip_beta
  use sebcal_namelist, only: nml_settings_t, read_sebcal_namelist
  use sebcal_ccpp, only: sebcal_ccpp_init, sebcal_ccpp_run, sebcal_ccpp_finalize
  implicit none
  integer, parameter :: im = 2
  character(len=1024) :: nml, arg
  character(len=errmsg_len) :: errmsg
  integer :: nz, errflg
  real(kind_phys), parameter :: sbc = 5.67e-8_kind_phys   ! the published model's value
  real(kind_phys) :: dt, nan
  type(nml_settings_t) :: s
  real(kind_phys), allocatable :: t_soil(:, :), t_keep(:, :), theta(:, :), psurf(:, :), psoil(:, :, :)
  real(kind_phys) :: forc(9, im), g_state(im), sw_net(im), lw_net(im), lw_up(im), hflx(im), lhflx(im), gflx(im)

  call get_command_argument(1, nml)
  call get_command_argument(2, arg)
  read (arg, *) nz
  call get_command_argument(3, arg)
  read (arg, *) dt
  nan = ieee_value(1.0_kind_phys, ieee_quiet_nan)
  call read_sebcal_namelist(trim(nml), s, errflg, errmsg)
  allocate (t_soil(im, nz), t_keep(im, nz), theta(im, nz), psurf(im, npsurf), psoil(im, nz, npsoil))
  call reset()

  call sebcal_ccpp_run(im, nz, npsurf, npsoil, dt, forc(1, :), forc(2, :), forc(3, :), forc(4, :), &
                       forc(5, :), forc(6, :), forc(7, :), forc(8, :), forc(9, :), theta, psurf, psoil, &
                       t_soil, g_state, sw_net, lw_net, lw_up, hflx, lhflx, gflx, sbc, errmsg, errflg)
  call report('run_before_init')
  call sebcal_ccpp_init('no/such/file.nml', nz, dt, errmsg, errflg)
  call report('missing_namelist')
  call sebcal_ccpp_init(trim(nml), nz + 1, dt, errmsg, errflg)
  call report('nz_mismatch')
  call sebcal_ccpp_init(trim(nml), nz, 2*dt, errmsg, errflg)
  call report('dt_mismatch')
  call sebcal_ccpp_init(trim(nml), nz, dt, errmsg, errflg)
  call report('init_ok')

  call reset()
  call run(dt)
  call report('run_ok')
  call reset()
  call run(dt/2)
  call report('run_dt_mismatch')
  call reset()
  psoil(2, 3, is_lambda) = -0.8_kind_phys
  call run(dt)
  call report('negative_lambda')
  call reset()
  forc(3, 2) = nan
  call run(dt)
  call report('nan_air_temperature')
  call reset()
  forc(1, 1) = nan
  call run(dt)
  call report('nan_shortwave')
  call reset()
  t_soil(1, 2) = nan
  t_keep = t_soil
  call run(dt)
  call report('nan_state')
  call reset()
  forc(3, 1) = 15.0_kind_phys
  call run(dt)
  call report('celsius_air_temperature')
  call reset()
  psurf(1, ip_beta) = -1
  call run(dt)
  call report('unknown_bowen_ratio')
  call sebcal_ccpp_finalize(errmsg, errflg)
  call report('finalize')
  call reset()
  call run(dt)
  call report('run_after_finalize')

contains

  subroutine reset()
    integer :: i
    forc = 0
    forc(1, :) = 500
    forc(2, :) = 350
    forc(3, :) = 300
    forc(4, :) = 3
    forc(5, :) = 1.0e5_kind_phys
    forc(6, :) = 0.01_kind_phys
    theta = 0.2_kind_phys
    g_state = 0
    do i = 1, im
      psurf(i, :) = s%psurf
      psoil(i, :, :) = transpose(s%psoil)
      t_soil(i, :) = 300 + i
    end do
    t_keep = t_soil
  end subroutine reset

  subroutine run(step)
    real(kind_phys), intent(in) :: step
    call sebcal_ccpp_run(im, nz, npsurf, npsoil, step, forc(1, :), forc(2, :), forc(3, :), forc(4, :), &
                         forc(5, :), forc(6, :), forc(7, :), forc(8, :), forc(9, :), theta, psurf, psoil, &
                         t_soil, g_state, sw_net, lw_net, lw_up, hflx, lhflx, gflx, sbc, errmsg, errflg)
  end subroutine run

  subroutine report(name)
    character(len=*), intent(in) :: name
    logical :: same
    same = all(t_soil == t_keep .or. (t_soil /= t_soil .and. t_keep /= t_keep))
    write (*, '(a,1x,i0,1x,l1,1x,a)') name, errflg, same, trim(errmsg)
  end subroutine report

end program ccpp_errors

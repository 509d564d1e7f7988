!> Whole runs of one soil column: initial state, optional spin-up, time loop. No I/O.
module sebcal_simulate
  use sebcal_const
  use sebcal_column
  implicit none
  private
  public :: simulate_run, initial_state

contains

  !> Set the initial profile t [K] (0:n) by mode: uniform T_b, a given profile, or spin-up
  !> (repeating forcing levels 1..nday). g returns the ground heat flux of the initial state
  !> at forcing level 0 [W m-2].
  subroutine initial_state(col, t_given, forc, theta, t, g, ncycles, errflg, errmsg)
    type(column_t), intent(in) :: col
    real(dp), intent(in) :: t_given(0:)         !< profile for init_given [K]
    real(dp), intent(in) :: forc(:, 0:)         !< (nforc, 0:nt) forcing
    real(dp), intent(in) :: theta(:, 0:)        !< (nz, 0:nt) soil moisture, or (1, 0:0) when unused
    real(dp), intent(out) :: t(0:)
    real(dp), intent(out) :: g
    integer, intent(out) :: ncycles, errflg
    character(len=*), intent(out) :: errmsg
    integer :: ios_msg             !< status of a message write (never stops the run)
    real(dp) :: flux(nflux)
    integer :: nday, nt

    errflg = 0
    errmsg = ''
    ncycles = 0
    g = 0
    nt = ubound(forc, 2)
    select case (col%iopt(io_init))
    case (init_uniform, init_spinup)
      t(0:col%n) = col%psurf(ip_tb)
    case (init_given)
      t(0:col%n) = t_given(0:col%n)
      if (any(.not. (t(0:col%n) > 0)) .or. any(t(0:col%n) > 1.0e4_dp)) then
        errflg = err_state
        errmsg = 'initial profile: temperatures must be finite and > 0 K'
        return
      end if
    end select
    if (col%iopt(io_top) == top_temperature) t(0) = forc(if_top, 0)
    call column_fluxes(col, t, t, forc(:, 0), theta(:, 0), .true., flux)
    g = flux(ix_qg)
    if (col%iopt(io_init) /= init_spinup) return
    nday = nint(86400.0_dp/col%dt)
    if (abs(nday*col%dt - 86400.0_dp) > 1.0e-6_dp*col%dt .or. nday < 1) then
      errflg = err_option
      write (errmsg, '(a,es12.5,a)', iostat=ios_msg) 'spin-up needs a time step that divides one day, got dt = ', col%dt, ' s'
      return
    end if
    if (nt < nday) then
      errflg = err_option
      write (errmsg, '(a,i0,a,i0,a)', iostat=ios_msg) 'spin-up repeats the first day, but the run has only ', nt, &
        ' steps (one day is ', nday, ')'
      return
    end if
    if (size(theta, 2) > 1) then
      call column_spinup(col, t, nday, forc(:, 1:nday), theta(:, 1:nday), g, ncycles, errflg, errmsg)
    else
      call column_spinup(col, t, nday, forc(:, 1:nday), theta(:, 0:0), g, ncycles, errflg, errmsg)
    end if
  end subroutine initial_state

  !> Run nt steps from the initial state t_init. Outputs at levels 0..nt: t_out(:, k) the
  !> profile [K], flux_out(:, k) the surface fluxes [W m-2] (ix_* order); niter(k) the solver
  !> iterations of step k (k = 1..nt).
  subroutine simulate_run(col, t_init, forc, theta, t_out, flux_out, niter, errflg, errmsg)
    type(column_t), intent(in) :: col
    real(dp), intent(in) :: t_init(0:)
    real(dp), intent(in) :: forc(:, 0:)          !< (nforc, 0:nt)
    real(dp), intent(in) :: theta(:, 0:)         !< (nz, 0:nt), or (1, 0:0) when unused
    real(dp), intent(out) :: t_out(0:, 0:)       !< (0:n, 0:nt)
    real(dp), intent(out) :: flux_out(:, 0:)     !< (nflux, 0:nt)
    integer, intent(out) :: niter(:)             !< (nt)
    integer, intent(out) :: errflg
    character(len=*), intent(out) :: errmsg
    integer :: ios_msg             !< status of a message write (never stops the run)
    real(dp) :: t(0:col%n), told(0:col%n), g
    integer :: k, kt, nt
    character(len=errmsg_len) :: msg

    errflg = 0
    errmsg = ''
    niter = 0
    nt = ubound(forc, 2)
    t = t_init(0:col%n)
    t_out(:, 0) = t
    call column_fluxes(col, t, t, forc(:, 0), theta(:, 0), .true., flux_out(:, 0))
    g = flux_out(ix_qg, 0)
    do k = 1, nt
      kt = min(k, ubound(theta, 2))
      told = t
      call column_step(col, t, forc(:, k), theta(:, kt), g, niter(k), errflg, msg)
      if (errflg /= 0) then
        write (errmsg, '(a,i0,2a)', iostat=ios_msg) 'step ', k, ': ', trim(msg)
        return
      end if
      t_out(:, k) = t
      call column_fluxes(col, t, told, forc(:, k), theta(:, kt), .false., flux_out(:, k))
      g = flux_out(ix_qg, k)
    end do
  end subroutine simulate_run

end module sebcal_simulate

!> Whole runs of the soil column: initial state, optional spin-up, time loop. No I/O.
module sebcal_simulate
  use sebcal_const
  use sebcal_column
  implicit none
  private
  public :: simulate_run, initial_state

contains

  !> Set the initial profile t [K] (0:n) by mode: uniform T_b, a given profile, or spin-up.
  subroutine initial_state(col, init, t_given, nt, sw, lw, ta, spinup_tol, spinup_max, t, ncycles, &
                           errflg, errmsg)
    type(column_t), intent(in) :: col
    integer, intent(in) :: init                 !< init_uniform, init_given or init_spinup
    real(dp), intent(in) :: t_given(0:)         !< profile for init_given [K]
    integer, intent(in) :: nt
    real(dp), intent(in) :: sw(0:nt), lw(0:nt), ta(0:nt)   !< forcing at levels 0..nt
    real(dp), intent(in) :: spinup_tol          !< [K]
    integer, intent(in) :: spinup_max           !< days
    real(dp), intent(out) :: t(0:)
    integer, intent(out) :: ncycles, errflg
    character(len=*), intent(out) :: errmsg
    integer :: nday

    errflg = 0
    errmsg = ''
    ncycles = 0
    select case (init)
    case (init_uniform)
      t(0:col%n) = col%tb
    case (init_given)
      t(0:col%n) = t_given(0:col%n)
      if (any(.not. (t(0:col%n) > 0)) .or. any(t(0:col%n) > 1.0e4_dp)) then
        errflg = err_state
        errmsg = 'initial profile: temperatures must be finite and > 0 K'
        return
      end if
    case (init_spinup)
      t(0:col%n) = col%tb
      nday = nint(86400.0_dp/col%dt)
      if (abs(nday*col%dt - 86400.0_dp) > 1.0e-6_dp*col%dt .or. nday < 1) then
        errflg = err_option
        write (errmsg, '(a,es12.5,a)') 'spin-up needs a time step that divides one day, got dt = ', col%dt, ' s'
        return
      end if
      if (nt < nday) then
        errflg = err_option
        write (errmsg, '(a,i0,a,i0,a)') 'spin-up repeats the first day, but the run has only ', nt, &
          ' steps (one day is ', nday, ')'
        return
      end if
      if (.not. (spinup_tol > 0) .or. spinup_max < 1) then
        errflg = err_option
        errmsg = 'spin-up needs spinup_tol > 0 K and spinup_max_cycles >= 1'
        return
      end if
      call column_spinup(col, t, nday, sw(1:nday), lw(1:nday), ta(1:nday), spinup_tol, spinup_max, &
                         ncycles, errflg, errmsg)
    case default
      errflg = err_option
      write (errmsg, '(a,i0,a)') 'initial-state code ', init, ' unknown (1 uniform, 2 profile, 3 spinup)'
    end select
  end subroutine initial_state

  !> Run nt steps from the initial state. Outputs at levels 0..nt: t_out(:, k) the profile [K],
  !> flux_out(:, k) the surface fluxes [W m-2] (index constants ix_* in sebcal_const);
  !> niter(k) the iterations of step k (k = 1..nt).
  subroutine simulate_run(col, t_init, nt, sw, lw, ta, t_out, flux_out, niter, errflg, errmsg)
    type(column_t), intent(in) :: col
    real(dp), intent(in) :: t_init(0:)
    integer, intent(in) :: nt
    real(dp), intent(in) :: sw(0:nt), lw(0:nt), ta(0:nt)
    real(dp), intent(out) :: t_out(0:col%n, 0:nt)
    real(dp), intent(out) :: flux_out(nflux, 0:nt)
    integer, intent(out) :: niter(nt)
    integer, intent(out) :: errflg
    character(len=*), intent(out) :: errmsg
    real(dp) :: t(0:col%n)
    integer :: k
    character(len=errmsg_len) :: msg

    errflg = 0
    errmsg = ''
    niter = 0
    t = t_init(0:col%n)
    t_out(:, 0) = t
    call surface_fluxes(col, t(0), sw(0), lw(0), ta(0), flux_out(:, 0))
    do k = 1, nt
      call column_step(col, t, sw(k), lw(k), ta(k), niter(k), errflg, msg)
      if (errflg /= 0) then
        write (errmsg, '(a,i0,2a)') 'step ', k, ': ', trim(msg)
        return
      end if
      t_out(:, k) = t
      call surface_fluxes(col, t(0), sw(k), lw(k), ta(k), flux_out(:, k))
    end do
  end subroutine simulate_run

end module sebcal_simulate

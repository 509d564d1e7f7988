!> Host-model interface of the sebcal soil/SEB scheme: init, run, finalize.
!>
!> A host land-surface model calls, in order:
!>
!>   call sebcal_scheme_init(nml_file, nz, errmsg, errflg)        ! read namelist, set the state
!>   call sebcal_scheme_spinup(nday, sw, lw, ta, errmsg, errflg)  ! only when init = 'spinup'
!>   call sebcal_scheme_run(nsteps, sw, lw, ta, t_soil, flux, errmsg, errflg)   ! any number of times
!>   call sebcal_scheme_finalize(errmsg, errflg)
!>
!> Every routine returns errflg = 0 on success and a message otherwise; none does I/O except
!> init (the namelist) and none STOPs. One column per program (module state), as in the
!> usual physics-scheme pattern; see docs/fortran.md for argument units and shapes.
module sebcal_scheme
  use sebcal_const
  use sebcal_column
  use sebcal_namelist
  use sebcal_simulate, only: initial_state
  implicit none
  private

  type(column_t), save :: col
  type(nml_settings_t), save :: settings
  real(dp), allocatable, save :: state(:)   ! soil temperature [K], (0:n)
  logical, save :: ready = .false.

  public :: sebcal_scheme_init, sebcal_scheme_spinup, sebcal_scheme_run, sebcal_scheme_finalize
  public :: sebcal_scheme_get_grid, sebcal_scheme_get_state, sebcal_scheme_set_state

contains

  !> Read the namelist file and set grid, parameters, options and the initial state.
  subroutine sebcal_scheme_init(nml_file, nz, errmsg, errflg)
    character(len=*), intent(in) :: nml_file      !< path of the namelist file
    integer, intent(out) :: nz                    !< number of soil nodes (for the caller's arrays)
    character(len=*), intent(out) :: errmsg
    integer, intent(out) :: errflg
    real(dp) :: dummy(0:0)
    integer :: ncycles

    nz = 0
    ready = .false.
    call read_sebcal_namelist(nml_file, settings, errflg, errmsg)
    if (errflg /= 0) return
    call column_setup(col, settings%nz, settings%z, settings%dx, settings%dt, settings%alpha, settings%eps, &
                      settings%lam, settings%cv, settings%tb, settings%hb, settings%beta, settings%solver, &
                      settings%lwopt, settings%bottom, settings%tol, settings%max_iter, errflg, errmsg)
    if (errflg /= 0) then
      errmsg = 'namelist '//trim(nml_file)//': '//trim(errmsg)
      return
    end if
    if (allocated(state)) deallocate (state)
    allocate (state(0:col%n))
    dummy = 0
    if (settings%init == init_spinup) then
      state = col%tb      ! the host supplies its first day through sebcal_scheme_spinup
    else
      call initial_state(col, settings%init, settings%t_init, 0, dummy, dummy, dummy, 0.0_dp, 0, state, &
                         ncycles, errflg, errmsg)
      if (errflg /= 0) return
    end if
    nz = col%n + 1
    ready = .true.
  end subroutine sebcal_scheme_init

  !> Spin up from the current state by repeating one day of forcing (nday steps) until the
  !> profile is periodic within the namelist's spinup_tol [K].
  subroutine sebcal_scheme_spinup(nday, sw, lw, ta, ncycles, errmsg, errflg)
    integer, intent(in) :: nday                   !< steps in one day (86400/dt)
    real(dp), intent(in) :: sw(nday), lw(nday)    !< K_down, L_down at the end of each step [W m-2]
    real(dp), intent(in) :: ta(nday)              !< air temperature [K]
    integer, intent(out) :: ncycles               !< days repeated
    character(len=*), intent(out) :: errmsg
    integer, intent(out) :: errflg

    ncycles = 0
    if (.not. is_ready(errmsg, errflg)) return
    call column_spinup(col, state, nday, sw, lw, ta, settings%spinup_tol, settings%spinup_max, ncycles, &
                       errflg, errmsg)
  end subroutine sebcal_scheme_spinup

  !> Advance nsteps time steps. Forcing element k is at the end of step k.
  subroutine sebcal_scheme_run(nsteps, nz, sw, lw, ta, t_soil, flux, errmsg, errflg)
    integer, intent(in) :: nsteps                 !< number of steps
    integer, intent(in) :: nz                     !< number of nodes (from init)
    real(dp), intent(in) :: sw(nsteps)            !< downward shortwave K_down [W m-2]
    real(dp), intent(in) :: lw(nsteps)            !< downward longwave L_down [W m-2]
    real(dp), intent(in) :: ta(nsteps)            !< air temperature Ta [K]
    real(dp), intent(out) :: t_soil(nz, nsteps)   !< soil temperature at each node after each step [K]
    real(dp), intent(out) :: flux(nflux, nsteps)  !< surface fluxes after each step [W m-2] (ix_* order)
    character(len=*), intent(out) :: errmsg
    integer, intent(out) :: errflg
    integer :: k, niter
    character(len=errmsg_len) :: msg

    if (.not. is_ready(errmsg, errflg)) return
    if (nz /= col%n + 1) then
      errflg = err_state
      write (errmsg, '(a,i0,a,i0)') 'sebcal_scheme_run: nz = ', nz, ' but the scheme has ', col%n + 1
      return
    end if
    do k = 1, nsteps
      call column_step(col, state, sw(k), lw(k), ta(k), niter, errflg, msg)
      if (errflg /= 0) then
        write (errmsg, '(a,i0,2a)') 'sebcal_scheme_run step ', k, ': ', trim(msg)
        return
      end if
      t_soil(:, k) = state
      call surface_fluxes(col, state(0), sw(k), lw(k), ta(k), flux(:, k))
    end do
  end subroutine sebcal_scheme_run

  !> Node depths [m] of the scheme's grid.
  subroutine sebcal_scheme_get_grid(nz, z, errmsg, errflg)
    integer, intent(in) :: nz
    real(dp), intent(out) :: z(nz)
    character(len=*), intent(out) :: errmsg
    integer, intent(out) :: errflg
    z = 0
    if (.not. is_ready(errmsg, errflg)) return
    if (nz /= col%n + 1) then
      errflg = err_state
      write (errmsg, '(a,i0,a,i0)') 'sebcal_scheme_get_grid: nz = ', nz, ' but the scheme has ', col%n + 1
      return
    end if
    z = col%z
  end subroutine sebcal_scheme_get_grid

  !> Current soil temperature [K] at every node.
  subroutine sebcal_scheme_get_state(nz, t, errmsg, errflg)
    integer, intent(in) :: nz
    real(dp), intent(out) :: t(nz)
    character(len=*), intent(out) :: errmsg
    integer, intent(out) :: errflg
    t = 0
    if (.not. is_ready(errmsg, errflg)) return
    if (nz /= col%n + 1) then
      errflg = err_state
      write (errmsg, '(a,i0,a,i0)') 'sebcal_scheme_get_state: nz = ', nz, ' but the scheme has ', col%n + 1
      return
    end if
    t = state
  end subroutine sebcal_scheme_get_state

  !> Replace the soil temperature [K] at every node (e.g. from a host restart file).
  subroutine sebcal_scheme_set_state(nz, t, errmsg, errflg)
    integer, intent(in) :: nz
    real(dp), intent(in) :: t(nz)
    character(len=*), intent(out) :: errmsg
    integer, intent(out) :: errflg
    if (.not. is_ready(errmsg, errflg)) return
    if (nz /= col%n + 1) then
      errflg = err_state
      write (errmsg, '(a,i0,a,i0)') 'sebcal_scheme_set_state: nz = ', nz, ' but the scheme has ', col%n + 1
      return
    end if
    if (any(.not. (t > 0)) .or. any(t > 1.0e4_dp)) then
      errflg = err_state
      errmsg = 'sebcal_scheme_set_state: temperatures must be finite and > 0 K'
      return
    end if
    state = t
  end subroutine sebcal_scheme_set_state

  !> Release the scheme's memory. Safe to call twice.
  subroutine sebcal_scheme_finalize(errmsg, errflg)
    character(len=*), intent(out) :: errmsg
    integer, intent(out) :: errflg
    errmsg = ''
    errflg = 0
    if (allocated(state)) deallocate (state)
    ready = .false.
  end subroutine sebcal_scheme_finalize

  logical function is_ready(errmsg, errflg)
    character(len=*), intent(out) :: errmsg
    integer, intent(out) :: errflg
    errmsg = ''
    errflg = 0
    is_ready = ready
    if (.not. ready) then
      errflg = err_state
      errmsg = 'sebcal scheme not initialised: call sebcal_scheme_init first'
    end if
  end function is_ready

end module sebcal_scheme

!> Stand-alone driver of the sebcal scheme, calling it as a host model would (no Python).
!>
!> usage: sebcal_driver NAMELIST FORCING OUTPUT
!>   NAMELIST  sebcal namelist file (&sebcal_params, &sebcal_grid, &sebcal_options)
!>   FORCING   text file, one line per step: K_down [W m-2]  L_down [W m-2]  Ta [K]
!>             (the values at the end of each step; '#' lines are skipped)
!>   OUTPUT    text file, one line per step: step, Ts [K], SWnet, LWdown, LWup, Qh+Qle, Qg [W m-2],
!>             then the soil temperature at every node [K]
!> Exit status 0 on success; the scheme's error message and status 1 otherwise.
program sebcal_driver
  use sebcal_const, only: dp, nflux, errmsg_len, ix_swnet, ix_lwdown, ix_lwup, ix_qturb, ix_qg
  use sebcal_scheme
  implicit none
  character(len=1024) :: nml_file, forcing_file, out_file
  character(len=errmsg_len) :: errmsg
  character(len=512) :: line
  integer :: errflg, nz, nsteps, unit, ios, k
  real(dp), allocatable :: sw(:), lw(:), ta(:), t_soil(:, :), flux(:, :)

  if (command_argument_count() /= 3) then
    write (*, '(a)') 'usage: sebcal_driver NAMELIST FORCING OUTPUT'
    error stop 2
  end if
  call get_command_argument(1, nml_file)
  call get_command_argument(2, forcing_file)
  call get_command_argument(3, out_file)

  call sebcal_scheme_init(trim(nml_file), nz, errmsg, errflg)
  call check('init')

  ! read the forcing: count the data lines, then read them
  open (newunit=unit, file=trim(forcing_file), status='old', action='read', iostat=ios)
  if (ios /= 0) then
    write (*, '(2a)') 'sebcal_driver: cannot open forcing file ', trim(forcing_file)
    error stop 1
  end if
  nsteps = 0
  do
    read (unit, '(a)', iostat=ios) line
    if (ios /= 0) exit
    if (is_data(line)) nsteps = nsteps + 1
  end do
  allocate (sw(nsteps), lw(nsteps), ta(nsteps), t_soil(nz, nsteps), flux(nflux, nsteps))
  rewind (unit)
  k = 0
  do while (k < nsteps)
    read (unit, '(a)') line
    if (.not. is_data(line)) cycle
    k = k + 1
    read (line, *, iostat=ios) sw(k), lw(k), ta(k)
    if (ios /= 0) then
      write (*, '(a,i0,3a)') 'sebcal_driver: cannot read three numbers on data line ', k, ' of ', &
        trim(forcing_file), ': '//trim(line)
      error stop 1
    end if
  end do
  close (unit)

  call sebcal_scheme_run(nsteps, nz, sw, lw, ta, t_soil, flux, errmsg, errflg)
  call check('run')

  open (newunit=unit, file=trim(out_file), status='replace', action='write')
  write (unit, '(a)') '# step Ts[K] SWnet LWdown LWup Qh+Qle Qg [W m-2] T(z_1..z_N)[K]'
  do k = 1, nsteps
    write (unit, '(i8,*(1x,es24.16e3))') k, t_soil(1, k), flux(ix_swnet, k), flux(ix_lwdown, k), &
      flux(ix_lwup, k), flux(ix_qturb, k), flux(ix_qg, k), t_soil(:, k)
  end do
  close (unit)

  call sebcal_scheme_finalize(errmsg, errflg)
  call check('finalize')

contains

  subroutine check(stage)
    character(len=*), intent(in) :: stage
    if (errflg /= 0) then
      write (*, '(a,a,a,i0,2a)') 'sebcal_driver: ', stage, ' failed (errflg ', errflg, '): ', trim(errmsg)
      error stop 1
    end if
  end subroutine check

  logical function is_data(s)
    character(len=*), intent(in) :: s
    is_data = len_trim(s) > 0 .and. index(adjustl(s), '#') /= 1
  end function is_data

end program sebcal_driver

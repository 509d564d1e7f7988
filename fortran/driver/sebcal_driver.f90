!> Stand-alone driver of the sebcal scheme: one column from a namelist and a forcing file,
!> with the same column routines as the Python binding (no Python needed).
!>
!> usage: sebcal_driver NAMELIST FORCING OUTPUT
!>   NAMELIST  sebcal namelist file (&sebcal_params, &sebcal_soil, &sebcal_grid, &sebcal_options)
!>   FORCING   text file, one line per time level 0..nt ('#' lines are skipped) with up to nine
!>             columns in the order of the forcing rows: K_down [W m-2], L_down [W m-2], Ta [K],
!>             wind [m s-1], PSurf [Pa], Qair [kg kg-1], LAI [m2 m-2], top value [K or W m-2],
!>             bottom temperature [K]; columns the options do not use may be left out
!>   OUTPUT    text file, one line per level: level, Ts [K], SWnet, LWnet, LWup, Qh, Qle, Qg,
!>             Qh+Qle [W m-2], then the soil temperature at every node [K]
!> Exit status 0 on success; the scheme's error message and status 1 otherwise.
program sebcal_driver
  use sebcal_const
  use sebcal_column, only: column_t, column_setup
  use sebcal_simulate, only: initial_state, simulate_run
  use sebcal_namelist, only: nml_settings_t, read_sebcal_namelist
  implicit none
  character(len=1024) :: nml_file, forcing_file, out_file
  character(len=errmsg_len) :: errmsg
  character(len=2048) :: line
  integer :: errflg, nlev, unit, ios, k, ncycles, ncol
  real(dp), allocatable :: forc(:, :), t_out(:, :), flux(:, :), theta(:, :), t0(:)
  integer, allocatable :: niter(:)
  real(dp) :: g
  type(nml_settings_t) :: s
  type(column_t) :: col

  if (command_argument_count() /= 3) then
    write (*, '(a)') 'usage: sebcal_driver NAMELIST FORCING OUTPUT'
    error stop 2
  end if
  call get_command_argument(1, nml_file)
  call get_command_argument(2, forcing_file)
  call get_command_argument(3, out_file)

  call read_sebcal_namelist(trim(nml_file), s, errflg, errmsg)
  call check('namelist')
  if (s%iopt(io_soil) == soil_johansen) then
    errflg = err_option
    errmsg = 'the driver has no soil-moisture input: soil_thermal johansen is not available here'
    call check('options')
  end if
  call column_setup(col, s%z, s%dx, s%dt, s%psurf, s%psoil, s%iopt, s%rset, errflg, errmsg)
  call check('setup')

  ! read the forcing: count the data lines, then read them
  open (newunit=unit, file=trim(forcing_file), status='old', action='read', iostat=ios)
  if (ios /= 0) then
    write (*, '(2a)') 'sebcal_driver: cannot open forcing file ', trim(forcing_file)
    error stop 1
  end if
  nlev = 0
  do
    read (unit, '(a)', iostat=ios) line
    if (ios /= 0) exit
    if (is_data(line)) nlev = nlev + 1
  end do
  if (nlev < 1) then
    write (*, '(2a)') 'sebcal_driver: no data lines in ', trim(forcing_file)
    error stop 1
  end if
  allocate (forc(nforc, 0:nlev - 1), t_out(s%nz, 0:nlev - 1), flux(nflux, 0:nlev - 1), niter(nlev - 1))
  allocate (theta(1, 0:0), t0(s%nz))
  theta = 0
  forc = 0
  rewind (unit)
  k = -1
  do while (k < nlev - 1)
    read (unit, '(a)') line
    if (.not. is_data(line)) cycle
    k = k + 1
    ncol = count_numbers(line)
    if (ncol < 3 .or. ncol > nforc) then
      write (*, '(a,i0,3a)') 'sebcal_driver: need 3 to 9 numbers on data line ', k + 1, ' of ', &
        trim(forcing_file), ': '//trim(line)
      error stop 1
    end if
    read (line, *, iostat=ios) forc(1:ncol, k)
    if (ios /= 0) then
      write (*, '(a,i0,3a)') 'sebcal_driver: cannot read the numbers on data line ', k + 1, ' of ', &
        trim(forcing_file), ': '//trim(line)
      error stop 1
    end if
  end do
  close (unit)

  call initial_state(col, s%t_init, forc, theta, t0, g, ncycles, errflg, errmsg)
  call check('initial state')
  call simulate_run(col, t0, forc, theta, t_out, flux, niter, errflg, errmsg)
  call check('run')

  open (newunit=unit, file=trim(out_file), status='replace', action='write')
  write (unit, '(a)') '# level Ts[K] SWnet LWnet LWup Qh Qle Qg Qh+Qle [W m-2] T(z_0..z_N)[K]'
  do k = 0, nlev - 1
    write (unit, '(i8,*(1x,es24.16e3))') k, t_out(1, k), flux(:, k), t_out(:, k)
  end do
  close (unit)

contains

  subroutine check(stage)
    character(len=*), intent(in) :: stage
    if (errflg /= 0) then
      write (*, '(a,a,a,i0,2a)') 'sebcal_driver: ', stage, ' failed (errflg ', errflg, '): ', trim(errmsg)
      error stop 1
    end if
  end subroutine check

  logical function is_data(str)
    character(len=*), intent(in) :: str
    is_data = len_trim(str) > 0 .and. index(adjustl(str), '#') /= 1
  end function is_data

  integer function count_numbers(str)
    character(len=*), intent(in) :: str
    integer :: i
    logical :: inword
    count_numbers = 0
    inword = .false.
    do i = 1, len_trim(str)
      if (str(i:i) == ' ' .or. str(i:i) == ',' .or. iachar(str(i:i)) == 9) then
        inword = .false.
      else if (.not. inword) then
        inword = .true.
        count_numbers = count_numbers + 1
      end if
    end do
  end function count_numbers

end program sebcal_driver

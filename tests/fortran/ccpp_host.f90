!> A minimal CCPP-style host for tests: it owns the state of ncol columns, gives each column
!> its own parameters, and calls sebcal_ccpp_run for blocks of columns, as a framework's
!> generated cap would. No framework code: the calls are written out by hand.
!>
!> usage: ccpp_host NBLOCK NML_1 FORCING_1 ... NML_n FORCING_n OUT_PREFIX
!>   NBLOCK     columns per block (the last block takes the rest)
!>   NML_i      sebcal namelist of column i: the parameters (&sebcal_params, &sebcal_soil) of
!>              that column; the options, grid and dt must agree (the scheme reads NML_1)
!>   FORCING_i  the stand-alone driver's forcing file for column i (all nine columns)
!>   OUT_PREFIX writes OUT_PREFIX<i>.txt for levels 1..nt in the driver's output format
program ccpp_host
  use machine, only: kind_phys
  use sebcal_const, only: dp, npsurf, npsoil, nflux, ip_tb, errmsg_len
  use sebcal_namelist, only: nml_settings_t, read_sebcal_namelist
  use sebcal_ccpp, only: sebcal_ccpp_init, sebcal_ccpp_run, sebcal_ccpp_finalize
  implicit none
  integer :: ncol, nblock, nz, nt, i, j, k, b0, b1, errflg, unit
  character(len=1024) :: arg, prefix
  character(len=errmsg_len) :: errmsg
  character(len=1024), allocatable :: nml(:), forcing_file(:)
  type(nml_settings_t), allocatable :: s(:)
  real(kind_phys), parameter :: sbc = 5.67e-8_kind_phys   ! the published model's value
  real(kind_phys), allocatable :: forc(:, :, :)                 ! (9, 0:nt, ncol)
  real(kind_phys), allocatable :: t_soil(:, :), theta(:, :), psurf(:, :), psoil(:, :, :)
  real(kind_phys), allocatable :: g_state(:), sw_net(:), lw_net(:), lw_up(:), hflx(:), lhflx(:), gflx(:)
  integer, allocatable :: units(:)

  call get_command_argument(1, arg)
  read (arg, *) nblock
  ncol = (command_argument_count() - 2)/2
  allocate (nml(ncol), forcing_file(ncol), s(ncol), units(ncol))
  do i = 1, ncol
    call get_command_argument(2*i, nml(i))
    call get_command_argument(2*i + 1, forcing_file(i))
  end do
  call get_command_argument(2*ncol + 2, prefix)

  do i = 1, ncol
    call read_sebcal_namelist(trim(nml(i)), s(i), errflg, errmsg)
    call check('namelist '//trim(nml(i)))
  end do
  nz = s(1)%nz
  do i = 1, ncol
    call read_forcing(trim(forcing_file(i)), i)
  end do
  nt = ubound(forc, 2)

  allocate (t_soil(ncol, nz), theta(ncol, nz), psurf(ncol, npsurf), psoil(ncol, nz, npsoil))
  allocate (g_state(ncol), sw_net(ncol), lw_net(ncol), lw_up(ncol), hflx(ncol), lhflx(ncol), gflx(ncol))
  theta = 0
  g_state = 0
  do i = 1, ncol
    psurf(i, :) = s(i)%psurf
    psoil(i, :, :) = transpose(s(i)%psoil)
    t_soil(i, :) = s(i)%t_init
  end do

  call sebcal_ccpp_init(trim(nml(1)), nz, real(s(1)%dt, kind_phys), errmsg, errflg)
  call check('sebcal_ccpp_init')

  do i = 1, ncol
    write (arg, '(a,i0,a)') trim(prefix), i, '.txt'
    open (newunit=units(i), file=trim(arg), status='replace', action='write')
  end do
  do k = 1, nt
    b0 = 1
    do while (b0 <= ncol)
      b1 = min(b0 + nblock - 1, ncol)
      call sebcal_ccpp_run(b1 - b0 + 1, nz, npsurf, npsoil, real(s(1)%dt, kind_phys), &
                           forc(1, k, b0:b1), forc(2, k, b0:b1), forc(3, k, b0:b1), forc(4, k, b0:b1), &
                           forc(5, k, b0:b1), forc(6, k, b0:b1), forc(7, k, b0:b1), forc(8, k, b0:b1), &
                           forc(9, k, b0:b1), theta(b0:b1, :), psurf(b0:b1, :), psoil(b0:b1, :, :), &
                           t_soil(b0:b1, :), g_state(b0:b1), sw_net(b0:b1), lw_net(b0:b1), &
                           lw_up(b0:b1), hflx(b0:b1), lhflx(b0:b1), gflx(b0:b1), sbc, errmsg, errflg)
      call check('sebcal_ccpp_run')
      b0 = b1 + 1
    end do
    do i = 1, ncol
      ! the driver's columns: level, Ts, SWnet, LWnet, LWup, Qh, Qle, Qg (down), Qh+Qle, T(:)
      write (units(i), '(i8,*(1x,es24.16e3))') k, t_soil(i, 1), sw_net(i), lw_net(i), lw_up(i), &
        hflx(i), lhflx(i), -gflx(i), hflx(i) + lhflx(i), (t_soil(i, j), j=1, nz)
    end do
  end do
  do i = 1, ncol
    close (units(i))
  end do
  call sebcal_ccpp_finalize(errmsg, errflg)
  call check('sebcal_ccpp_finalize')

contains

  subroutine check(what)
    character(len=*), intent(in) :: what
    if (errflg /= 0) then
      write (*, '(4a)') 'ccpp_host: ', what, ': ', trim(errmsg)
      error stop 1
    end if
  end subroutine check

  !> The driver's forcing format: '#' lines skipped, nine numbers per line, levels 0..nt.
  subroutine read_forcing(path, icol)
    character(len=*), intent(in) :: path
    integer, intent(in) :: icol
    character(len=2048) :: line
    integer :: ios, n, lev
    open (newunit=unit, file=path, status='old', action='read')
    n = 0
    do
      read (unit, '(a)', iostat=ios) line
      if (ios /= 0) exit
      if (len_trim(line) > 0 .and. index(adjustl(line), '#') /= 1) n = n + 1
    end do
    if (.not. allocated(forc)) then
      allocate (forc(9, 0:n - 1, ncol))
      forc = 0
    else if (ubound(forc, 2) /= n - 1) then
      error stop 'ccpp_host: forcing files differ in length'
    end if
    rewind (unit)
    lev = -1
    do while (lev < n - 1)
      read (unit, '(a)') line
      if (len_trim(line) == 0 .or. index(adjustl(line), '#') == 1) cycle
      lev = lev + 1
      read (line, *) forc(:, lev, icol)
    end do
    close (unit)
  end subroutine read_forcing

end program ccpp_host

!> Read the sebcal namelist file: groups &sebcal_params, &sebcal_grid and &sebcal_options.
!>
!> This is the only module that does file I/O. Errors come back in errflg/errmsg; nothing STOPs.
!> The file format (docs/fortran.md, written by `sebcal export --host sebcal`):
!>
!>   &sebcal_params  alpha, emissivity, lambda, heat_capacity, t_bottom, h_eff, bowen  /
!>   &sebcal_grid    nodes, depth  (uniform)  or  nodes, node_depths(1:nodes)  /
!>   &sebcal_options dt, solver, longwave, bottom, init, init_profile, tol, max_iter,
!>                   spinup_tol, spinup_max_cycles  /
module sebcal_namelist
  use sebcal_const
  implicit none
  private
  public :: nml_settings_t, read_sebcal_namelist

  real(dp), parameter :: unset = -huge(1.0_dp)

  !> Everything the namelist holds, in SI units, with option names turned into codes.
  type, public :: nml_settings_t
    integer :: nz = 0
    real(dp) :: dx = 0                               !< uniform spacing [m], 0 for given depths
    real(dp), allocatable :: z(:)                    !< node depths [m], (1:nz)
    real(dp) :: alpha, eps, lam, cv, tb, hb, beta    !< parameters (SI)
    real(dp) :: dt, tol, spinup_tol                  !< [s], [K], [K]
    integer :: solver, lwopt, bottom, init, max_iter, spinup_max
    real(dp), allocatable :: t_init(:)               !< initial profile [K] (init_given), (1:nz)
  end type nml_settings_t

contains

  subroutine read_sebcal_namelist(path, s, errflg, errmsg)
    character(len=*), intent(in) :: path
    type(nml_settings_t), intent(out) :: s
    integer, intent(out) :: errflg
    character(len=*), intent(out) :: errmsg

    real(dp) :: alpha, emissivity, lambda, heat_capacity, t_bottom, h_eff, bowen
    integer :: nodes
    real(dp) :: depth
    real(dp), allocatable :: node_depths(:), init_profile(:)
    real(dp) :: dt, tol, spinup_tol
    integer :: max_iter, spinup_max_cycles
    character(len=32) :: solver, longwave, bottom, init
    namelist /sebcal_params/ alpha, emissivity, lambda, heat_capacity, t_bottom, h_eff, bowen
    namelist /sebcal_grid/ nodes, depth, node_depths
    namelist /sebcal_options/ dt, solver, longwave, bottom, init, init_profile, tol, max_iter, &
      spinup_tol, spinup_max_cycles

    integer :: unit, ios, i
    logical :: exists
    character(len=256) :: iomsg

    errflg = 0
    errmsg = ''
    allocate (node_depths(max_nodes), init_profile(max_nodes))
    alpha = unset; emissivity = 0.95_dp; lambda = unset; heat_capacity = unset
    t_bottom = unset; h_eff = unset; bowen = -1
    nodes = 0; depth = unset; node_depths = unset
    dt = 3600; solver = 'direct'; longwave = 'paper'; bottom = 'dirichlet'; init = 'uniform'
    init_profile = unset; tol = unset; max_iter = -1; spinup_tol = 1.0e-3_dp; spinup_max_cycles = 365

    inquire (file=path, exist=exists)
    if (.not. exists) then
      errflg = err_namelist
      errmsg = 'namelist file not found: '//trim(path)
      return
    end if
    open (newunit=unit, file=path, status='old', action='read', iostat=ios, iomsg=iomsg)
    if (ios /= 0) then
      errflg = err_namelist
      errmsg = 'cannot open namelist file '//trim(path)//': '//trim(iomsg)
      return
    end if
    read (unit, nml=sebcal_params, iostat=ios, iomsg=iomsg)
    if (ios /= 0) then
      call group_error('sebcal_params')
      return
    end if
    rewind (unit)
    read (unit, nml=sebcal_grid, iostat=ios, iomsg=iomsg)
    if (ios /= 0) then
      call group_error('sebcal_grid')
      return
    end if
    rewind (unit)
    read (unit, nml=sebcal_options, iostat=ios, iomsg=iomsg)
    if (ios /= 0) then
      call group_error('sebcal_options')
      return
    end if
    close (unit)

    ! parameters: all but emissivity and bowen are required
    if (alpha == unset) call missing('sebcal_params', 'alpha')
    if (lambda == unset) call missing('sebcal_params', 'lambda')
    if (heat_capacity == unset) call missing('sebcal_params', 'heat_capacity')
    if (t_bottom == unset) call missing('sebcal_params', 't_bottom')
    if (h_eff == unset) call missing('sebcal_params', 'h_eff')
    if (errflg /= 0) return
    s%alpha = alpha; s%eps = emissivity; s%lam = lambda; s%cv = heat_capacity
    s%tb = t_bottom; s%hb = h_eff; s%beta = bowen

    if (nodes < 2 .or. nodes > max_nodes) then
      errflg = err_namelist
      write (errmsg, '(3a,i0,a,i0)') 'namelist ', trim(path), ': &sebcal_grid nodes must be 2..', &
        max_nodes, ', got ', nodes
      return
    end if
    s%nz = nodes
    allocate (s%z(nodes), s%t_init(nodes))
    if (depth /= unset) then
      if (any(node_depths /= unset)) then
        errflg = err_namelist
        errmsg = 'namelist '//trim(path)//': &sebcal_grid gives both depth and node_depths; give one'
        return
      end if
      if (.not. (depth > 0)) then
        errflg = err_namelist
        errmsg = 'namelist '//trim(path)//': &sebcal_grid depth must be > 0 m'
        return
      end if
      s%dx = depth/(nodes - 1)
      do i = 1, nodes
        s%z(i) = (i - 1)*s%dx
      end do
    else
      if (any(node_depths(1:nodes) == unset) .or. any(node_depths(nodes + 1:) /= unset)) then
        errflg = err_namelist
        write (errmsg, '(3a,i0,a)') 'namelist ', trim(path), ': &sebcal_grid needs depth, or node_depths with ', &
          nodes, ' values (one per node)'
        return
      end if
      s%dx = 0
      s%z = node_depths(1:nodes)
    end if

    s%dt = dt
    s%spinup_tol = spinup_tol
    s%spinup_max = spinup_max_cycles
    select case (lower(solver))
    case ('direct'); s%solver = solver_direct
    case ('jacobi'); s%solver = solver_jacobi
    case default; call bad_option('solver', solver, 'direct, jacobi'); return
    end select
    select case (lower(longwave))
    case ('paper'); s%lwopt = lw_paper
    case ('kirchhoff'); s%lwopt = lw_kirchhoff
    case default; call bad_option('longwave', longwave, 'paper, kirchhoff'); return
    end select
    select case (lower(bottom))
    case ('dirichlet'); s%bottom = bottom_dirichlet
    case ('zero_flux'); s%bottom = bottom_zero_flux
    case default; call bad_option('bottom', bottom, 'dirichlet, zero_flux'); return
    end select
    select case (lower(init))
    case ('uniform'); s%init = init_uniform
    case ('profile'); s%init = init_given
    case ('spinup'); s%init = init_spinup
    case default; call bad_option('init', init, 'uniform, profile, spinup'); return
    end select
    if (s%init == init_given) then
      if (any(init_profile(1:nodes) == unset)) then
        errflg = err_namelist
        write (errmsg, '(3a,i0,a)') 'namelist ', trim(path), ': init = ''profile'' needs init_profile with ', &
          nodes, ' values [K]'
        return
      end if
      s%t_init = init_profile(1:nodes)
    else
      s%t_init = s%tb
    end if
    if (tol == unset) then
      tol = merge(1.0e-4_dp, 1.0e-10_dp, s%solver == solver_jacobi)
    end if
    if (max_iter < 0) then
      max_iter = merge(100000, 50, s%solver == solver_jacobi)
    end if
    s%tol = tol
    s%max_iter = max_iter

  contains

    subroutine group_error(group)
      character(len=*), intent(in) :: group
      errflg = err_namelist
      if (is_iostat_end(ios)) then
        errmsg = 'namelist '//trim(path)//': group &'//group//' not found; add it (see docs/fortran.md)'
      else
        errmsg = 'namelist '//trim(path)//': cannot read group &'//group//': '//trim(iomsg)
      end if
      close (unit)
    end subroutine group_error

    subroutine missing(group, key)
      character(len=*), intent(in) :: group, key
      if (errflg /= 0) return
      errflg = err_namelist
      errmsg = 'namelist '//trim(path)//': &'//group//' has no value for '//key//'; add "'//key//' = ..."'
    end subroutine missing

    subroutine bad_option(key, val, allowed)
      character(len=*), intent(in) :: key, val, allowed
      errflg = err_namelist
      errmsg = 'namelist '//trim(path)//': &sebcal_options '//key//' = '''//trim(val)// &
        ''' is not one of: '//allowed
    end subroutine bad_option

  end subroutine read_sebcal_namelist

  pure function lower(s) result(r)
    character(len=*), intent(in) :: s
    character(len=len_trim(adjustl(s))) :: r
    integer :: i, k
    r = trim(adjustl(s))
    do i = 1, len(r)
      k = iachar(r(i:i))
      if (k >= iachar('A') .and. k <= iachar('Z')) r(i:i) = achar(k + 32)
    end do
  end function lower

end module sebcal_namelist

!> Read the sebcal namelist file: groups &sebcal_params, &sebcal_soil (optional),
!> &sebcal_grid and &sebcal_options.
!>
!> This is the only module that reads files. Errors come back in errflg/errmsg; nothing STOPs.
!> The file format (docs/fortran.md; written by `sebcal export --host sebcal`):
!>
!>   &sebcal_params  alpha, emissivity, h_eff, bowen, t_bottom, z0m, z0h_ratio, d0, z_ref,
!>                   r_s, rs_a, rs_b, tau_sw, tau_lw, k_ext, (lambda, heat_capacity: uniform soil) /
!>   &sebcal_soil    nlayers, layer_bottoms(:), lambda(:), heat_capacity(:), porosity(:),
!>                   lambda_dry(:), lambda_solids(:), c_dry(:), psi_sat(:), b_clapp(:),
!>                   dt_freeze(:)  /
!>   &sebcal_grid    nodes, depth, top_depth (uniform)  or  nodes, node_depths(1:nodes)  /
!>   &sebcal_options dt, solver, longwave, bottom, init, top, turbulence, stability, latent,
!>                   surface_resistance, canopy, soil_thermal, freezing, time_scheme, init_profile, tol,
!>                   max_iter, spinup_tol, spinup_max_cycles, wind_min  /
!>
!> Node i takes the parameters of the first soil layer whose bottom is at or below z_i (the
!> last layer below the deepest bottom), as sebcal.grid.layer_of_nodes does in Python.
module sebcal_namelist
  use sebcal_const
  implicit none
  private
  public :: nml_settings_t, read_sebcal_namelist, layer_of_nodes

  real(dp), parameter :: unset = -huge(1.0_dp)

  !> Everything the namelist holds, in SI units, with option names turned into codes.
  type, public :: nml_settings_t
    integer :: nz = 0
    real(dp) :: dx = 0                               !< uniform spacing [m], 0 for given depths
    real(dp), allocatable :: z(:)                    !< node depths [m], (1:nz)
    real(dp) :: psurf(npsurf) = 0                    !< surface parameters (SI)
    real(dp), allocatable :: psoil(:, :)             !< soil parameters per node, (npsoil, nz)
    integer :: iopt(nopt) = 0                        !< option codes and integer settings
    real(dp) :: rset(nrset) = 0                      !< real settings
    real(dp) :: dt = 0                               !< time step [s]
    real(dp), allocatable :: t_init(:)               !< initial profile [K] (init_given), (1:nz)
    integer :: nlayers = 1                           !< soil layers
    real(dp), allocatable :: layer_bottoms(:)        !< depth of each layer's bottom [m], (nlayers)
    real(dp), allocatable :: player(:, :)            !< soil parameters per layer, (npsoil, nlayers)
  end type nml_settings_t

contains

  !> The layer (1..nl) of every node: the first layer whose bottom is at or below the node.
  pure subroutine layer_of_nodes(z, bottoms, layer)
    real(dp), intent(in) :: z(:), bottoms(:)
    integer, intent(out) :: layer(size(z))
    integer :: i, j
    do i = 1, size(z)
      layer(i) = size(bottoms)
      do j = 1, size(bottoms)
        if (z(i) <= bottoms(j)) then
          layer(i) = j
          exit
        end if
      end do
    end do
  end subroutine layer_of_nodes

  subroutine read_sebcal_namelist(path, s, errflg, errmsg)
    character(len=*), intent(in) :: path
    type(nml_settings_t), intent(out) :: s
    integer, intent(out) :: errflg
    character(len=*), intent(out) :: errmsg
    integer :: ios_msg             !< status of a message write (never stops the run)

    real(dp) :: alpha, emissivity, h_eff, bowen, t_bottom, z0m, z0h_ratio, d0, z_ref, r_s, rs_a, rs_b
    real(dp) :: tau_sw, tau_lw, k_ext
    integer :: nlayers
    real(dp) :: layer_bottoms(max_layers), lambda(max_layers), heat_capacity(max_layers)
    real(dp) :: porosity(max_layers), lambda_dry(max_layers), lambda_solids(max_layers), c_dry(max_layers)
    real(dp) :: psi_sat(max_layers), b_clapp(max_layers), dt_freeze(max_layers)
    integer :: nodes
    real(dp) :: depth, top_depth
    real(dp), allocatable :: node_depths(:), init_profile(:)
    real(dp) :: dt, tol, spinup_tol, wind_min
    integer :: max_iter, spinup_max_cycles
    character(len=32) :: solver, longwave, bottom, init, top, turbulence, stability, latent
    character(len=32) :: surface_resistance, canopy, soil_thermal, time_scheme, freezing
    namelist /sebcal_params/ alpha, emissivity, h_eff, bowen, t_bottom, z0m, z0h_ratio, d0, z_ref, &
      r_s, rs_a, rs_b, tau_sw, tau_lw, k_ext, lambda, heat_capacity
    namelist /sebcal_soil/ nlayers, layer_bottoms, lambda, heat_capacity, porosity, lambda_dry, &
      lambda_solids, c_dry, psi_sat, b_clapp, dt_freeze
    namelist /sebcal_grid/ nodes, depth, top_depth, node_depths
    namelist /sebcal_options/ dt, solver, longwave, bottom, init, top, turbulence, stability, latent, &
      surface_resistance, canopy, soil_thermal, time_scheme, init_profile, tol, max_iter, spinup_tol, &
      spinup_max_cycles, wind_min, freezing

    integer :: unit, ios, i
    logical :: exists, seb, bulk, rs_moist
    character(len=256) :: iomsg
    integer, allocatable :: layer(:)

    errflg = 0
    errmsg = ''
    allocate (node_depths(max_nodes), init_profile(max_nodes))
    alpha = unset; emissivity = 0.95_dp; h_eff = unset; bowen = -1; t_bottom = unset
    z0m = unset; z0h_ratio = 0.1_dp; d0 = 0; z_ref = unset; r_s = unset; rs_a = 8.25_dp; rs_b = 4.225_dp
    tau_sw = 1; tau_lw = 1; k_ext = 0.5_dp
    nlayers = 1; layer_bottoms = unset; lambda = unset; heat_capacity = unset; porosity = unset
    lambda_dry = unset; lambda_solids = unset; c_dry = unset
    psi_sat = unset; b_clapp = unset; dt_freeze = unset; freezing = 'none'
    nodes = 0; depth = unset; top_depth = 0; node_depths = unset
    dt = 3600; solver = 'direct'; longwave = 'paper'; bottom = 'dirichlet'; init = 'uniform'
    top = 'seb'; turbulence = 'h_eff'; stability = 'neutral'; latent = 'none'
    surface_resistance = 'constant'; canopy = 'none'; soil_thermal = 'constant'; time_scheme = 'backward_euler'
    init_profile = unset; tol = unset; max_iter = -1; spinup_tol = 1.0e-3_dp; spinup_max_cycles = 365
    wind_min = 1

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
    read (unit, nml=sebcal_soil, iostat=ios, iomsg=iomsg)
    if (ios /= 0 .and. .not. is_iostat_end(ios)) then
      call group_error('sebcal_soil')
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
    close (unit, iostat=ios_msg)

    ! ---- options
    call pick('solver', solver, [character(len=16) :: 'direct', 'jacobi'], s%iopt(io_solver))
    call pick('longwave', longwave, [character(len=16) :: 'paper', 'kirchhoff'], s%iopt(io_longwave))
    call pick('bottom', bottom, [character(len=16) :: 'dirichlet', 'zero_flux', 'series'], s%iopt(io_bottom))
    call pick('init', init, [character(len=16) :: 'uniform', 'profile', 'spinup'], s%iopt(io_init))
    call pick('turbulence', turbulence, [character(len=16) :: 'h_eff', 'bulk'], s%iopt(io_turbulence))
    call pick('stability', stability, [character(len=16) :: 'neutral', 'most'], s%iopt(io_stability))
    call pick('latent', latent, [character(len=16) :: 'none', 'resistance'], s%iopt(io_latent))
    call pick('surface_resistance', surface_resistance, [character(len=16) :: 'constant', 'soil_moisture'], &
              s%iopt(io_rsurf))
    call pick('canopy', canopy, [character(len=16) :: 'none', 'transmission', 'lai'], s%iopt(io_canopy))
    call pick('soil_thermal', soil_thermal, [character(len=16) :: 'constant', 'johansen'], s%iopt(io_soil))
    call pick('top', top, [character(len=16) :: 'seb', 'temperature', 'flux'], s%iopt(io_top))
    call pick('freezing', freezing, [character(len=16) :: 'none', 'niu_yang', 'linear'], s%iopt(io_freezing))
    if (errflg /= 0) return
    select case (lower(time_scheme))
    case ('backward_euler'); s%rset(rs_theta) = 1
    case ('crank_nicolson'); s%rset(rs_theta) = 0.5_dp
    case default
      call bad_option('time_scheme', time_scheme, 'backward_euler, crank_nicolson')
      return
    end select
    if (tol == unset) tol = merge(1.0e-4_dp, 1.0e-10_dp, s%iopt(io_solver) == solver_jacobi)
    if (max_iter < 0) max_iter = merge(100000, 50, s%iopt(io_solver) == solver_jacobi)
    s%rset(rs_tol) = tol
    s%rset(rs_spinup_tol) = spinup_tol
    s%rset(rs_wind_min) = wind_min
    s%rset(rs_sigma) = sigma_sb
    s%iopt(io_max_iter) = max_iter
    s%iopt(io_spinup_max) = spinup_max_cycles
    s%dt = dt

    ! ---- surface parameters: those the options use are required unless they have a default
    seb = s%iopt(io_top) == top_seb
    bulk = seb .and. s%iopt(io_turbulence) == turb_bulk
    rs_moist = bulk .and. s%iopt(io_latent) == latent_resistance .and. s%iopt(io_rsurf) == rsurf_moisture
    if (seb .and. alpha == unset) call missing('sebcal_params', 'alpha')
    if (seb .and. .not. bulk .and. h_eff == unset) call missing('sebcal_params', 'h_eff')
    if ((s%iopt(io_bottom) == bottom_dirichlet .or. s%iopt(io_init) /= init_given) .and. t_bottom == unset) &
      call missing('sebcal_params', 't_bottom')
    if (bulk .and. z0m == unset) call missing('sebcal_params', 'z0m')
    if (bulk .and. z_ref == unset) call missing('sebcal_params', 'z_ref')
    if (bulk .and. s%iopt(io_latent) == latent_resistance .and. s%iopt(io_rsurf) == rsurf_constant .and. &
        r_s == unset) call missing('sebcal_params', 'r_s')
    if (errflg /= 0) return
    s%psurf = [alpha, emissivity, h_eff, bowen, t_bottom, z0m, z0h_ratio, d0, z_ref, r_s, rs_a, rs_b, &
               tau_sw, tau_lw, k_ext]
    where (s%psurf == unset) s%psurf = 0

    ! ---- grid
    if (nodes < 2 .or. nodes > max_nodes) then
      errflg = err_namelist
      write (errmsg, '(3a,i0,a,i0)', iostat=ios_msg) 'namelist ', trim(path), ': &sebcal_grid nodes must be 2..', &
        max_nodes, ', got ', nodes
      return
    end if
    s%nz = nodes
    allocate (s%z(nodes), s%t_init(nodes), s%psoil(npsoil, nodes), layer(nodes))
    if (depth /= unset) then
      if (any(node_depths /= unset)) then
        errflg = err_namelist
        errmsg = 'namelist '//trim(path)//': &sebcal_grid gives both depth and node_depths; give one'
        return
      end if
      if (.not. (depth > top_depth .and. top_depth >= 0)) then
        errflg = err_namelist
        errmsg = 'namelist '//trim(path)//': &sebcal_grid needs 0 <= top_depth < depth [m]'
        return
      end if
      s%dx = (depth - top_depth)/(nodes - 1)
      do i = 1, nodes
        s%z(i) = top_depth + (i - 1)*s%dx
      end do
    else
      if (any(node_depths(1:nodes) == unset) .or. any(node_depths(nodes + 1:) /= unset)) then
        errflg = err_namelist
        write (errmsg, '(3a,i0,a)', iostat=ios_msg) 'namelist ', trim(path), ': &sebcal_grid needs depth, or node_depths with ', &
          nodes, ' values (one per node)'
        return
      end if
      s%dx = 0
      s%z = node_depths(1:nodes)
    end if

    ! ---- soil layers, mapped to the nodes
    if (nlayers < 1 .or. nlayers > max_layers) then
      errflg = err_namelist
      write (errmsg, '(3a,i0,a,i0)', iostat=ios_msg) 'namelist ', trim(path), ': &sebcal_soil nlayers must be 1..', &
        max_layers, ', got ', nlayers
      return
    end if
    if (nlayers == 1 .and. layer_bottoms(1) == unset) layer_bottoms(1) = s%z(nodes)
    if (any(layer_bottoms(1:nlayers) == unset)) then
      errflg = err_namelist
      write (errmsg, '(3a,i0,a)', iostat=ios_msg) 'namelist ', trim(path), ': &sebcal_soil needs layer_bottoms with ', &
        nlayers, ' depths [m]'
      return
    end if
    call layer_of_nodes(s%z, layer_bottoms(1:nlayers), layer)
    s%nlayers = nlayers
    allocate (s%layer_bottoms(nlayers), s%player(npsoil, nlayers))
    s%layer_bottoms = layer_bottoms(1:nlayers)
    s%player = 0
    s%psoil = 0
    if (s%iopt(io_soil) == soil_constant) then
      call layered('lambda', lambda, is_lambda)
      call layered('heat_capacity', heat_capacity, is_c)
    else
      call layered('porosity', porosity, is_porosity)
      call layered('lambda_dry', lambda_dry, is_lambda_dry)
      call layered('lambda_solids', lambda_solids, is_lambda_solids)
      call layered('c_dry', c_dry, is_c_dry)
    end if
    if ((rs_moist .or. s%iopt(io_freezing) == freeze_niu_yang) .and. s%iopt(io_soil) == soil_constant) &
      call layered('porosity', porosity, is_porosity)
    if (s%iopt(io_freezing) == freeze_niu_yang) then
      call layered('psi_sat', psi_sat, is_psi_sat)
      call layered('b_clapp', b_clapp, is_b_clapp)
    else if (s%iopt(io_freezing) == freeze_linear) then
      call layered('dt_freeze', dt_freeze, is_dt_freeze)
    end if
    if (errflg /= 0) return

    if (s%iopt(io_init) == init_given) then
      if (any(init_profile(1:nodes) == unset)) then
        errflg = err_namelist
        write (errmsg, '(3a,i0,a)', iostat=ios_msg) 'namelist ', trim(path), ': init = ''profile'' needs init_profile with ', &
          nodes, ' values [K]'
        return
      end if
      s%t_init = init_profile(1:nodes)
    else
      s%t_init = s%psurf(ip_tb)
    end if

  contains

    subroutine layered(key, values, row)
      character(len=*), intent(in) :: key
      real(dp), intent(in) :: values(:)
      integer, intent(in) :: row
      if (errflg /= 0) return
      if (any(values(1:nlayers) == unset)) then
        errflg = err_namelist
        write (errmsg, '(8a,i0,a)', iostat=ios_msg) 'namelist ', trim(path), ': ', key, ' needs a value for each of the ', &
          'soil layers (&sebcal_soil, or &sebcal_params for one layer): ', key, '(1:', nlayers, ')'
        return
      end if
      s%psoil(row, :) = values(layer)
      s%player(row, :) = values(1:nlayers)
    end subroutine layered

    subroutine group_error(group)
      character(len=*), intent(in) :: group
      errflg = err_namelist
      if (is_iostat_end(ios)) then
        errmsg = 'namelist '//trim(path)//': group &'//group//' not found; add it (see docs/fortran.md)'
      else
        errmsg = 'namelist '//trim(path)//': cannot read group &'//group//': '//trim(iomsg)
      end if
      close (unit, iostat=ios_msg)
    end subroutine group_error

    subroutine missing(group, key)
      character(len=*), intent(in) :: group, key
      if (errflg /= 0) return
      errflg = err_namelist
      errmsg = 'namelist '//trim(path)//': &'//group//' has no value for '//key//'; add "'//key//' = ..."'
    end subroutine missing

    subroutine pick(key, val, allowed, code)
      character(len=*), intent(in) :: key, val
      character(len=*), intent(in) :: allowed(:)
      integer, intent(out) :: code
      integer :: k
      code = 0
      if (errflg /= 0) return
      do k = 1, size(allowed)
        if (lower(val) == trim(allowed(k))) then
          code = k
          return
        end if
      end do
      call bad_option(key, val, join(allowed))
    end subroutine pick

    subroutine bad_option(key, val, allowed)
      character(len=*), intent(in) :: key, val, allowed
      errflg = err_namelist
      errmsg = 'namelist '//trim(path)//': &sebcal_options '//key//' = '''//trim(val)// &
        ''' is not one of: '//allowed
    end subroutine bad_option

  end subroutine read_sebcal_namelist

  pure function join(words) result(r)
    character(len=*), intent(in) :: words(:)
    character(len=:), allocatable :: r
    integer :: k
    r = trim(words(1))
    do k = 2, size(words)
      r = r//', '//trim(words(k))
    end do
  end function join

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

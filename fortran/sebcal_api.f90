!> The flat interface of sebcal wrapped for Python (f90wrap): scalars, assumed-shape real(dp)
!> and integer arrays, an error flag and a message. No derived types and no module state: every
!> call builds its column from its arguments, so any number of Python objects can use it.
!>
!> Array layouts (slots in sebcal_const; python/sebcal/vocabulary.py names them):
!>   forc(nforc, levels)    forcing rows if_* at each level
!>   theta(nz, levels)      soil moisture at the nodes [m3 m-3], or (1, 1) when not used
!>   psurf(npsurf)          surface parameters ip_*
!>   psoil(npsoil, nz)      soil parameters is_* of every node
!>   iopt(nopt)             option codes io_* and integer settings; rset(nrset) real settings
!>   flux(nflux, levels)    surface fluxes ix_* [W m-2]
module sebcal_api
  use sebcal_const
  use sebcal_column, only: column_t, column_setup, column_step, column_fluxes, heat_content
  use sebcal_simulate, only: simulate_run, initial_state
  use sebcal_tangent, only: tangent_run
  use sebcal_namelist, only: nml_settings_t, read_sebcal_namelist
  implicit none
  private
  public :: sebcal_api_simulate, sebcal_api_step, sebcal_api_heat_content, sebcal_api_read_namelist
  public :: sebcal_api_constants, sebcal_api_tangents, sebcal_api_probe_batch

contains

  !> A whole forward run: initial state (uniform, profile or spin-up), then nt steps.
  !> Forcing and outputs are at time levels 0..nt (columns 1..nt+1); step k uses the forcing at
  !> level k. Outputs at level 0 are the initial state with the forcing at level 0.
  subroutine sebcal_api_simulate(z, dx, dt, forc, theta, psurf, psoil, iopt, rset, t_init, t_out, &
                                 flux_out, niter, ncycles, errmsg, errflg)
    real(dp), intent(in) :: z(:)                     !< node depths [m], (nz)
    real(dp), intent(in) :: dx                       !< uniform spacing [m], or <= 0 for z
    real(dp), intent(in) :: dt                       !< time step [s]
    real(dp), intent(in) :: forc(:, :)               !< (nforc, nt+1)
    real(dp), intent(in) :: theta(:, :)              !< (nz, nt+1) or (1, 1)
    real(dp), intent(in) :: psurf(:)                 !< (npsurf)
    real(dp), intent(in) :: psoil(:, :)              !< (npsoil, nz)
    integer, intent(in) :: iopt(:)                   !< (nopt)
    real(dp), intent(in) :: rset(:)                  !< (nrset)
    real(dp), intent(in) :: t_init(:)                !< initial profile [K] (init = profile), (nz)
    real(dp), intent(inout) :: t_out(:, :)           !< soil temperature [K], (nz, nt+1)
    real(dp), intent(inout) :: flux_out(:, :)        !< surface fluxes [W m-2], (nflux, nt+1)
    integer, intent(inout) :: niter(:)               !< solver iterations per step, (nt)
    integer, intent(out) :: ncycles                  !< spin-up days used
    character(len=errmsg_len), intent(out) :: errmsg
    integer, intent(out) :: errflg
    type(column_t) :: col
    real(dp) :: t0(size(z)), g
    integer :: nz, nt

    ncycles = 0
    errflg = 0
    errmsg = ''
    nz = size(z)
    nt = size(forc, 2) - 1
    call check_common(nz, forc, theta, psurf, iopt, rset, errflg, errmsg)
    call check_size('t_init', size(t_init), nz, errflg, errmsg)
    call check_size('t_out rows', size(t_out, 1), nz, errflg, errmsg)
    call check_size('t_out columns', size(t_out, 2), nt + 1, errflg, errmsg)
    call check_size('flux_out rows', size(flux_out, 1), nflux, errflg, errmsg)
    call check_size('flux_out columns', size(flux_out, 2), nt + 1, errflg, errmsg)
    call check_size('niter', size(niter), max(nt, 0), errflg, errmsg)
    if (errflg /= 0) return
    if (nt < 0) then
      errflg = err_option
      errmsg = 'the forcing must have at least one time level'
      return
    end if
    call column_setup(col, z, dx, dt, psurf, psoil, iopt, rset, errflg, errmsg)
    if (errflg /= 0) return
    call initial_state(col, t_init, forc, theta, t0, g, ncycles, errflg, errmsg)
    if (errflg /= 0) return
    call simulate_run(col, t0, forc, theta, t_out, flux_out, niter, errflg, errmsg)
  end subroutine sebcal_api_simulate

  !> Runs of nb parameter sets (a batch of columns sharing grid, forcing and options) with the
  !> exact tangents of np directions each: the Jacobian the Levenberg-Marquardt calibration
  !> needs (sebcal_tangent). Only the temperatures at the probe nodes are returned.
  !> errflg(b) is the error of set b (0: success); errmsg holds the first failure's message
  !> and ierr its set, and the other sets still run.
  subroutine sebcal_api_tangents(z, dx, dt, forc, theta, psurf, psoil, iopt, rset, t_init, dt_init, &
                                 dpsurf, dpsoil, probes, nthreads, t_probe, flux_out, dt_probe, dflux, &
                                 errflg, ierr, errmsg)
    real(dp), intent(in) :: z(:), dx, dt
    real(dp), intent(in) :: forc(:, :)               !< (nforc, nt+1)
    real(dp), intent(in) :: theta(:, :)              !< (nz, nt+1) or (1, 1)
    real(dp), intent(in) :: psurf(:, :)              !< (npsurf, nb)
    real(dp), intent(in) :: psoil(:, :, :)           !< (npsoil, nz, nb)
    integer, intent(in) :: iopt(:)
    real(dp), intent(in) :: rset(:)
    real(dp), intent(in) :: t_init(:, :)             !< (nz, nb) initial profiles (init = profile)
    real(dp), intent(in) :: dt_init(:, :, :)         !< (nz, np, nb)
    real(dp), intent(in) :: dpsurf(:, :, :)          !< (npsurf, np, nb)
    real(dp), intent(in) :: dpsoil(:, :, :, :)       !< (npsoil, nz, np, nb)
    integer, intent(in) :: probes(:)                 !< node indices 0..nz-1
    integer, intent(in) :: nthreads                  !< threads over the sets (1: serial)
    real(dp), intent(inout) :: t_probe(:, :, :)      !< (nprobe, nt+1, nb) [K]
    real(dp), intent(inout) :: flux_out(:, :, :)     !< (nflux, nt+1, nb) [W m-2]
    real(dp), intent(inout) :: dt_probe(:, :, :, :)  !< (nprobe, np, nt+1, nb)
    real(dp), intent(inout) :: dflux(:, :, :, :)     !< (nflux, np, nt+1, nb)
    integer, intent(inout) :: errflg(:)              !< (nb)
    integer, intent(out) :: ierr                     !< first failing set (1-based), 0 if none
    character(len=errmsg_len), intent(out) :: errmsg
    integer :: nz, nt, nb, np, b, flag

    nz = size(z)
    nt = size(forc, 2) - 1
    nb = size(psurf, 2)
    np = size(dpsurf, 2)
    ierr = 0
    errmsg = ''
    flag = 0
    call check_batch(nz, forc, theta, psurf, psoil, iopt, rset, t_init, probes, t_probe, flux_out, &
                     errflg, flag, errmsg)
    call check_size('dt_init', size(dt_init), nz*np*nb, flag, errmsg)
    call check_size('dpsurf', size(dpsurf, 1)*size(dpsurf, 3), npsurf*nb, flag, errmsg)
    call check_size('dpsoil', size(dpsoil), npsoil*nz*np*nb, flag, errmsg)
    call check_size('dt_probe', size(dt_probe), size(probes)*np*(nt + 1)*nb, flag, errmsg)
    call check_size('dflux', size(dflux), nflux*np*(nt + 1)*nb, flag, errmsg)
    if (flag /= 0 .or. nt < 0) then
      call refuse_batch(flag, nt, errflg, ierr, errmsg)
      return
    end if
    !$omp parallel do num_threads(max(1, nthreads)) if(nthreads > 1 .and. nb > 1) &
    !$omp   schedule(dynamic) default(shared) private(b)
    do b = 1, nb
      block
        type(column_t) :: col
        integer :: ncyc
        character(len=errmsg_len) :: msg
        call column_setup(col, z, dx, dt, psurf(:, b), psoil(:, :, b), iopt, rset, errflg(b), msg)
        if (errflg(b) == 0) then
          call tangent_run(col, t_init(:, b), dt_init(:, :, b), forc, theta, dpsurf(:, :, b), &
                           dpsoil(:, :, :, b), probes, t_probe(:, :, b), flux_out(:, :, b), &
                           dt_probe(:, :, :, b), dflux(:, :, :, b), ncyc, errflg(b), msg)
        end if
        if (errflg(b) /= 0) call first_failure(b, msg, ierr, errmsg)
      end block
    end do
    !$omp end parallel do
  end subroutine sebcal_api_tangents

  !> Forward runs of nb parameter sets returning the temperatures at the probe nodes and the
  !> fluxes (the trial steps of the calibration). Errors as sebcal_api_tangents.
  subroutine sebcal_api_probe_batch(z, dx, dt, forc, theta, psurf, psoil, iopt, rset, t_init, probes, &
                                    nthreads, t_probe, flux_out, errflg, ierr, errmsg)
    real(dp), intent(in) :: z(:), dx, dt
    real(dp), intent(in) :: forc(:, :), theta(:, :)
    real(dp), intent(in) :: psurf(:, :)              !< (npsurf, nb)
    real(dp), intent(in) :: psoil(:, :, :)           !< (npsoil, nz, nb)
    integer, intent(in) :: iopt(:)
    real(dp), intent(in) :: rset(:)
    real(dp), intent(in) :: t_init(:, :)             !< (nz, nb)
    integer, intent(in) :: probes(:)
    integer, intent(in) :: nthreads                  !< threads over the sets (1: serial)
    real(dp), intent(inout) :: t_probe(:, :, :)      !< (nprobe, nt+1, nb)
    real(dp), intent(inout) :: flux_out(:, :, :)     !< (nflux, nt+1, nb)
    integer, intent(inout) :: errflg(:)
    integer, intent(out) :: ierr
    character(len=errmsg_len), intent(out) :: errmsg
    integer :: nz, nt, nb, b, flag

    nz = size(z)
    nt = size(forc, 2) - 1
    nb = size(psurf, 2)
    ierr = 0
    errmsg = ''
    flag = 0
    call check_batch(nz, forc, theta, psurf, psoil, iopt, rset, t_init, probes, t_probe, flux_out, &
                     errflg, flag, errmsg)
    if (flag /= 0 .or. nt < 0) then
      call refuse_batch(flag, nt, errflg, ierr, errmsg)
      return
    end if
    ! the sets are independent: each iteration owns its column and work arrays (block locals)
    !$omp parallel do num_threads(max(1, nthreads)) if(nthreads > 1 .and. nb > 1) &
    !$omp   schedule(dynamic) default(shared) private(b)
    do b = 1, nb
      block
        type(column_t) :: col
        real(dp) :: t0(nz), g
        real(dp), allocatable :: tout(:, :)
        integer :: niter(max(nt, 1)), ncyc, j
        character(len=errmsg_len) :: msg
        call column_setup(col, z, dx, dt, psurf(:, b), psoil(:, :, b), iopt, rset, errflg(b), msg)
        if (errflg(b) == 0) call initial_state(col, t_init(:, b), forc, theta, t0, g, ncyc, errflg(b), msg)
        if (errflg(b) == 0) then
          allocate (tout(nz, nt + 1))
          call simulate_run(col, t0, forc, theta, tout, flux_out(:, :, b), niter(1:nt), errflg(b), msg)
        end if
        if (errflg(b) == 0) then
          do j = 1, size(probes)
            t_probe(j, :, b) = tout(probes(j) + 1, :)
          end do
        else
          call first_failure(b, msg, ierr, errmsg)
        end if
      end block
    end do
    !$omp end parallel do
  end subroutine sebcal_api_probe_batch

  !> Keep the failure of the lowest-numbered set (the same whatever the threads' order).
  subroutine first_failure(b, msg, ierr, errmsg)
    integer, intent(in) :: b
    character(len=*), intent(in) :: msg
    integer, intent(inout) :: ierr
    character(len=*), intent(inout) :: errmsg
    !$omp critical (sebcal_first_failure)
    if (ierr == 0 .or. b < ierr) then
      ierr = b
      errmsg = msg
    end if
    !$omp end critical (sebcal_first_failure)
  end subroutine first_failure

  !> Advance a host-owned state by nsteps steps: t (nz) [K] in T^n, out the last profile; g
  !> [W m-2] in the ground heat flux of the state (used with theta < 1), out the last one.
  !> t_out, flux_out receive every step (columns 1..nsteps); forcing column k is the new level
  !> of step k.
  subroutine sebcal_api_step(z, dx, dt, forc, theta, psurf, psoil, iopt, rset, t, g, t_out, flux_out, &
                             niter, errmsg, errflg)
    real(dp), intent(in) :: z(:), dx, dt
    real(dp), intent(in) :: forc(:, :)               !< (nforc, nsteps)
    real(dp), intent(in) :: theta(:, :)              !< (nz, nsteps) or (1, 1)
    real(dp), intent(in) :: psurf(:)
    real(dp), intent(in) :: psoil(:, :)
    integer, intent(in) :: iopt(:)
    real(dp), intent(in) :: rset(:)
    real(dp), intent(inout) :: t(:)                  !< (nz) [K]
    real(dp), intent(inout) :: g                     !< [W m-2]
    real(dp), intent(inout) :: t_out(:, :)           !< (nz, nsteps) [K]
    real(dp), intent(inout) :: flux_out(:, :)        !< (nflux, nsteps) [W m-2]
    integer, intent(inout) :: niter(:)               !< (nsteps)
    character(len=errmsg_len), intent(out) :: errmsg
    integer :: ios_msg             !< status of a message write (never stops the run)
    integer, intent(out) :: errflg
    type(column_t) :: col
    real(dp) :: told(size(z))
    integer :: k, kt, nz, nsteps
    character(len=errmsg_len) :: msg

    errflg = 0
    errmsg = ''
    nz = size(z)
    nsteps = size(forc, 2)
    call check_common(nz, forc, theta, psurf, iopt, rset, errflg, errmsg)
    call check_size('t', size(t), nz, errflg, errmsg)
    call check_size('t_out rows', size(t_out, 1), nz, errflg, errmsg)
    call check_size('t_out columns', size(t_out, 2), nsteps, errflg, errmsg)
    call check_size('flux_out rows', size(flux_out, 1), nflux, errflg, errmsg)
    call check_size('flux_out columns', size(flux_out, 2), nsteps, errflg, errmsg)
    call check_size('niter', size(niter), nsteps, errflg, errmsg)
    if (errflg /= 0) return
    if (any(.not. (t > 0)) .or. any(t > 1.0e4_dp)) then
      errflg = err_state
      errmsg = 'state: temperatures must be finite and > 0 K'
      return
    end if
    call column_setup(col, z, dx, dt, psurf, psoil, iopt, rset, errflg, errmsg)
    if (errflg /= 0) return
    do k = 1, nsteps
      kt = min(k, size(theta, 2))
      told = t
      call column_step(col, t, forc(:, k), theta(:, kt), g, niter(k), errflg, msg)
      if (errflg /= 0) then
        t = told
        write (errmsg, '(a,i0,2a)', iostat=ios_msg) 'step ', k, ': ', trim(msg)
        return
      end if
      t_out(:, k) = t
      call column_fluxes(col, t, told, forc(:, k), theta(:, kt), .false., flux_out(:, k))
      g = flux_out(ix_qg, k)
    end do
  end subroutine sebcal_api_step

  !> Column heat content sum_i C_i w_i T_i [J m-2] of profiles t(nz, m) over the prognostic nodes
  !> (plus the latent heat of the liquid water, rho_w L_f wl_i w_i, with freezing).
  subroutine sebcal_api_heat_content(z, dx, psoil, iopt, theta, t, hc, errmsg, errflg)
    real(dp), intent(in) :: z(:)          !< node depths [m], (nz)
    real(dp), intent(in) :: dx            !< uniform spacing [m], or <= 0
    real(dp), intent(in) :: psoil(:, :)   !< (npsoil, nz)
    integer, intent(in) :: iopt(:)        !< (nopt)
    real(dp), intent(in) :: theta(:, :)   !< (nz, m) or (1, 1)
    real(dp), intent(in) :: t(:, :)       !< profiles [K], (nz, m)
    real(dp), intent(inout) :: hc(:)      !< heat content [J m-2], (m)
    character(len=errmsg_len), intent(out) :: errmsg
    integer, intent(out) :: errflg
    type(column_t) :: col
    real(dp) :: psurf(npsurf), rset(nrset), zero(size(z))
    integer :: k, io(nopt)
    errflg = 0
    errmsg = ''
    call check_size('iopt', size(iopt), nopt, errflg, errmsg)
    call check_size('t rows', size(t, 1), size(z), errflg, errmsg)
    call check_size('hc', size(hc), size(t, 2), errflg, errmsg)
    if (errflg /= 0) return
    if (iopt(io_soil) == soil_johansen .or. iopt(io_freezing) /= freeze_none) then
      call check_size('theta rows', size(theta, 1), size(z), errflg, errmsg)
      call check_size('theta columns', size(theta, 2), size(t, 2), errflg, errmsg)
      if (errflg /= 0) return
    end if
    ! only the grid and the soil enter: a neutral set of the other inputs passes the checks
    psurf = 0
    psurf(ip_alpha) = 0.2_dp
    psurf(ip_eps) = 0.95_dp
    psurf(ip_heff) = 10
    psurf(ip_beta) = -1
    psurf(ip_tb) = 290
    psurf(ip_tau_sw) = 1
    psurf(ip_tau_lw) = 1
    rset = 1
    rset(rs_sigma) = sigma_sb
    io = iopt
    io(io_solver) = solver_direct
    io(io_max_iter) = 1
    io(io_spinup_max) = 1
    call column_setup(col, z, dx, 3600.0_dp, psurf, psoil, io, rset, errflg, errmsg)
    if (errflg /= 0) return
    zero = 0
    do k = 1, size(t, 2)
      if (iopt(io_soil) == soil_johansen .or. iopt(io_freezing) /= freeze_none) then
        hc(k) = heat_content(col, t(:, k), theta(:, k))
      else
        hc(k) = heat_content(col, t(:, k), zero)
      end if
    end do
  end subroutine sebcal_api_heat_content

  !> Read a sebcal namelist file with the scheme's own reader and return what it holds.
  subroutine sebcal_api_read_namelist(path, nz, z, dx, dt, psurf, psoil, iopt, rset, t_init, nlayers, &
                                      bottoms, player, errmsg, errflg)
    character(len=*), intent(in) :: path
    integer, intent(out) :: nz                       !< nodes in the namelist grid
    real(dp), intent(inout) :: z(:)                  !< node depths [m] (1..nz), (nz_max)
    real(dp), intent(out) :: dx                      !< uniform spacing [m] or 0
    real(dp), intent(out) :: dt                      !< time step [s]
    real(dp), intent(inout) :: psurf(:)              !< (npsurf)
    real(dp), intent(inout) :: psoil(:, :)           !< (npsoil, nz_max), columns 1..nz filled
    integer, intent(inout) :: iopt(:)                !< (nopt)
    real(dp), intent(inout) :: rset(:)               !< (nrset)
    real(dp), intent(inout) :: t_init(:)             !< initial profile [K] (1..nz), (nz_max)
    integer, intent(out) :: nlayers                  !< soil layers
    real(dp), intent(inout) :: bottoms(:)            !< layer bottoms [m] (1..nlayers), (max_layers)
    real(dp), intent(inout) :: player(:, :)          !< soil parameters per layer, (npsoil, max_layers)
    character(len=errmsg_len), intent(out) :: errmsg
    integer :: ios_msg             !< status of a message write (never stops the run)
    integer, intent(out) :: errflg
    type(nml_settings_t) :: s

    nz = 0
    nlayers = 0
    dx = 0
    dt = 0
    call check_size('psurf', size(psurf), npsurf, errflg, errmsg)
    call check_size('psoil rows', size(psoil, 1), npsoil, errflg, errmsg)
    call check_size('iopt', size(iopt), nopt, errflg, errmsg)
    call check_size('rset', size(rset), nrset, errflg, errmsg)
    call check_size('bottoms', size(bottoms), max_layers, errflg, errmsg)
    call check_size('player rows', size(player, 1), npsoil, errflg, errmsg)
    call check_size('player columns', size(player, 2), max_layers, errflg, errmsg)
    if (errflg /= 0) return
    call read_sebcal_namelist(path, s, errflg, errmsg)
    if (errflg /= 0) return
    if (s%nz > size(z) .or. s%nz > size(t_init) .or. s%nz > size(psoil, 2)) then
      errflg = err_namelist
      write (errmsg, '(a,i0,a,i0)', iostat=ios_msg) 'namelist grid has ', s%nz, ' nodes, more than the arrays hold: ', &
        min(size(z), size(t_init), size(psoil, 2))
      return
    end if
    nz = s%nz
    z(1:nz) = s%z
    dx = s%dx
    dt = s%dt
    psurf = s%psurf
    psoil(:, 1:nz) = s%psoil
    iopt = s%iopt
    rset = s%rset
    t_init(1:nz) = s%t_init
    nlayers = s%nlayers
    bottoms(1:nlayers) = s%layer_bottoms
    player(:, 1:nlayers) = s%player
  end subroutine sebcal_api_read_namelist

  !> Constants and array sizes the Python side checks its own copies against.
  !> consts: sigma, karman, gravity, r_dry, cp_air, lv, c_water, lambda_water (SI).
  !> sizes: nflux, nforc, npsurf, npsoil, nopt, nrset, max_nodes, n_most, max_layers.
  subroutine sebcal_api_constants(consts, sizes)
    real(dp), intent(inout) :: consts(:)   !< (13)
    integer, intent(inout) :: sizes(:)     !< (9)
    if (size(consts) >= 8) consts(1:8) = [sigma_sb, karman, gravity, r_dry, cp_air, lv, c_water, lambda_water]
    if (size(consts) >= 13) consts(9:13) = [t_freeze, l_fusion, rho_water, c_ice, lambda_ice]
    if (size(sizes) >= 9) sizes(1:9) = [nflux, nforc, npsurf, npsoil, nopt, nrset, max_nodes, n_most, max_layers]
  end subroutine sebcal_api_constants

  ! Sizes shared by simulate and step.
  subroutine check_common(nz, forc, theta, psurf, iopt, rset, errflg, errmsg)
    integer, intent(in) :: nz
    real(dp), intent(in) :: forc(:, :), theta(:, :), psurf(:), rset(:)
    integer, intent(in) :: iopt(:)
    integer, intent(inout) :: errflg
    character(len=*), intent(inout) :: errmsg
    call check_size('forc rows', size(forc, 1), nforc, errflg, errmsg)
    call check_size('psurf', size(psurf), npsurf, errflg, errmsg)
    call check_size('iopt', size(iopt), nopt, errflg, errmsg)
    call check_size('rset', size(rset), nrset, errflg, errmsg)
    if (errflg /= 0) return
    if (.not. (size(theta, 1) == 1 .and. size(theta, 2) == 1)) then
      call check_size('theta rows', size(theta, 1), nz, errflg, errmsg)
      call check_size('theta columns', size(theta, 2), size(forc, 2), errflg, errmsg)
    else if (iopt(io_soil) == soil_johansen .or. iopt(io_freezing) /= freeze_none .or. &
             (iopt(io_top) == top_seb .and. &
             iopt(io_turbulence) == turb_bulk .and. iopt(io_latent) == latent_resistance .and. &
             iopt(io_rsurf) == rsurf_moisture)) then
      errflg = err_option
      errmsg = 'the options use soil moisture (soil_thermal johansen, surface_resistance '// &
               'soil_moisture or freezing): give theta at every node and level'
    end if
  end subroutine check_common

  ! The checks every batched call makes (forcing, options, the sizes of the sets' arrays, the
  ! probe indices); the first failure goes to flag/errmsg.
  subroutine check_batch(nz, forc, theta, psurf, psoil, iopt, rset, t_init, probes, t_probe, &
                         flux_out, errflg, flag, errmsg)
    integer, intent(in) :: nz
    real(dp), intent(in) :: forc(:, :), theta(:, :), psurf(:, :), psoil(:, :, :), rset(:)
    real(dp), intent(in) :: t_init(:, :), t_probe(:, :, :), flux_out(:, :, :)
    integer, intent(in) :: iopt(:), probes(:), errflg(:)
    integer, intent(out) :: flag
    character(len=*), intent(out) :: errmsg
    integer :: nb, nt

    nb = size(psurf, 2)
    nt = size(forc, 2) - 1
    flag = 0
    errmsg = ''
    call check_common(nz, forc, theta, psurf(:, 1), iopt, rset, flag, errmsg)
    call check_size('psoil', size(psoil, 2)*size(psoil, 3), nz*nb, flag, errmsg)
    call check_size('t_init', size(t_init, 1)*size(t_init, 2), nz*nb, flag, errmsg)
    call check_size('t_probe', size(t_probe), size(probes)*(nt + 1)*nb, flag, errmsg)
    call check_size('flux_out', size(flux_out), nflux*(nt + 1)*nb, flag, errmsg)
    call check_size('errflg', size(errflg), nb, flag, errmsg)
    if (flag == 0 .and. (any(probes < 0) .or. any(probes >= nz))) then
      flag = err_option
      errmsg = 'probe node index outside 0..nz-1'
    end if
  end subroutine check_batch

  ! A batch refused before any set ran: every set flagged, the first named.
  subroutine refuse_batch(flag, nt, errflg, ierr, errmsg)
    integer, intent(in) :: flag, nt
    integer, intent(inout) :: errflg(:)
    integer, intent(out) :: ierr
    character(len=*), intent(inout) :: errmsg
    errflg = max(flag, err_option)
    ierr = 1
    if (nt < 0) errmsg = 'the forcing must have at least one time level'
  end subroutine refuse_batch

  ! Record a size mismatch (the first one) in errflg/errmsg of the caller.
  subroutine check_size(name, got, want, errflg, errmsg)
    character(len=*), intent(in) :: name
    integer, intent(in) :: got, want
    integer, intent(inout) :: errflg
    character(len=*), intent(inout) :: errmsg
    integer :: ios_msg             !< status of a message write (never stops the run)
    if (errflg /= 0) return
    if (got /= want) then
      errflg = err_option
      write (errmsg, '(3a,i0,a,i0)', iostat=ios_msg) 'array ', name, ' has size ', got, ', expected ', want
    end if
  end subroutine check_size

end module sebcal_api

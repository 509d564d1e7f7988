!> The tangent-linear model of a column run: the run itself and, for P directions in parameter
!> space, the exact derivatives of the temperatures at chosen nodes and of the surface fluxes
!> at every level (docs/theory.md sec. 4c, eq. 14). Used by the Levenberg-Marquardt calibration, whose
!> Jacobian is these tangents. No I/O, no module state.
!>
!> One step solves F(T^(n+1); T^n, p) = 0 (eq. 8). Differentiating,
!>
!>   J dT^(n+1) = -(dF/dT^n dT^n + dF/dp dp),    J = dF/dT^(n+1),
!>
!> with J the tridiagonal matrix of the step at the converged T^(n+1) (the surface row holds
!> dG/dTs). The right-hand side is the complex-step derivative of F: F is evaluated in
!> complex arithmetic with T^n + i s dT^n and p + i s dp (s = 1e-20) at the real T^(n+1), and
!> its imaginary part divided by s is exact to round-off (no subtraction, no truncation).
!> The surface fluxes' tangents come the same way from the complex surface balance.
module sebcal_tangent
  use, intrinsic :: ieee_arithmetic, only: ieee_is_finite
  use sebcal_const
  use sebcal_column, only: column_t, column_step, column_fluxes, step_coefficients, step_elimination, &
                           ground_flux, cstep, spinup_left, freezing_active, freezing_coefficients
  use sebcal_surface, only: surface_balance
  use sebcal_soil, only: node_properties_z, coefficients_z, liquid_water, liquid_water_z, frozen_properties_z
  implicit none
  private
  public :: tangent_run

  !> Derivatives of the coefficients along each direction (constant soil: once per run).
  type :: dcoef_t
    real(dp), allocatable :: a(:, :), c(:, :)        !< d a_i, d c_i, (0:n, P)
    real(dp), allocatable :: c0(:), g1(:)            !< d c_0, d g_1, (P)
    logical, allocatable :: surface(:)               !< (P) the direction moves G at fixed Ts
    logical, allocatable :: soil(:)                  !< (P) the direction moves a soil property
  end type dcoef_t

contains

  !> A run with the tangents of P directions.
  !>
  !> Directions: dpsurf(:, k) and dpsoil(:, :, k) perturb the surface and node soil
  !> parameters; dt_given(:, k) perturbs a given initial profile (init = profile). With a
  !> uniform or spun-up initial state the initial temperature follows T_b, so dpsurf(ip_tb, k)
  !> moves it.
  !>
  !> Outputs at levels 0..nt: t_probe(j, l) = T at node probes(j) (0-based), flux_out(:, l);
  !> their tangents dt_probe(j, k, l) and dflux(:, k, l). ncycles: spin-up days.
  subroutine tangent_run(col, t_given, dt_given, forc, theta, dpsurf, dpsoil, probes, t_probe, &
                         flux_out, dt_probe, dflux, ncycles, errflg, errmsg)
    type(column_t), intent(in) :: col
    real(dp), intent(in) :: t_given(0:)            !< (0:n) initial profile for init = profile [K]
    real(dp), intent(in) :: dt_given(0:, :)        !< (0:n, P)
    real(dp), intent(in) :: forc(:, 0:)            !< (nforc, 0:nt)
    real(dp), intent(in) :: theta(:, 0:)           !< (nz, 0:nt) or (1, 0:0)
    real(dp), intent(in) :: dpsurf(:, :)           !< (npsurf, P)
    real(dp), intent(in) :: dpsoil(:, 0:, :)       !< (npsoil, 0:n, P)
    integer, intent(in) :: probes(:)               !< node indices 0..n
    real(dp), intent(out) :: t_probe(:, 0:)        !< (nprobe, 0:nt) [K]
    real(dp), intent(out) :: flux_out(:, 0:)       !< (nflux, 0:nt) [W m-2]
    real(dp), intent(out) :: dt_probe(:, :, 0:)    !< (nprobe, P, 0:nt)
    real(dp), intent(out) :: dflux(:, :, 0:)       !< (nflux, P, 0:nt)
    integer, intent(out) :: ncycles, errflg
    character(len=*), intent(out) :: errmsg
    integer :: ios_msg             !< status of a message write (never stops the run)
    real(dp) :: t(0:col%n), dtn(0:col%n, size(dpsurf, 2)), g, dg(size(dpsurf, 2))
    real(dp) :: tstart(0:col%n), change, prev, left
    integer :: nt, np, n, k, l, nday, kt, step
    type(dcoef_t) :: zc
    character(len=errmsg_len) :: msg

    errflg = 0
    errmsg = ''
    ncycles = 0
    n = col%n
    np = size(dpsurf, 2)
    nt = ubound(forc, 2)
    if (any(probes < 0) .or. any(probes > n)) then
      errflg = err_option
      errmsg = 'tangent run: probe node index outside 0..n'
      return
    end if
    allocate (zc%a(0:n, np), zc%c(0:n, np), zc%c0(np), zc%g1(np), zc%surface(np), zc%soil(np))
    do k = 1, np
      zc%surface(k) = any(dpsurf(:, k) /= 0) .or. dpsoil(is_porosity, 0, k) /= 0
      zc%soil(k) = any(dpsoil(:, :, k) /= 0)
    end do
    if (col%iopt(io_soil) == soil_constant) call zcoefficients(col, dpsoil, theta(:, 0), zc)

    ! initial state and its tangent
    select case (col%iopt(io_init))
    case (init_given)
      t = t_given(0:n)
      dtn = dt_given(0:n, :)
      if (any(.not. (t > 0)) .or. any(t > 1.0e4_dp)) then
        errflg = err_state
        errmsg = 'initial profile: temperatures must be finite and > 0 K'
        return
      end if
    case default
      t = col%psurf(ip_tb)
      do k = 1, np
        dtn(:, k) = dpsurf(ip_tb, k)
      end do
    end select
    if (col%iopt(io_top) == top_temperature) then
      t(0) = forc(if_top, 0)
      dtn(0, :) = 0
    end if
    call fluxes_tangent(col, zc, t, dtn, forc(:, 0), theta(:, 0), dpsurf, dpsoil, &
                        flux_out(:, 0), dflux(:, :, 0))
    g = flux_out(ix_qg, 0)
    dg = dflux(ix_qg, :, 0)

    if (col%iopt(io_init) == init_spinup) then
      nday = nint(86400.0_dp/col%dt)
      if (abs(nday*col%dt - 86400.0_dp) > 1.0e-6_dp*col%dt .or. nday < 1 .or. nt < nday) then
        errflg = err_option
        errmsg = 'spin-up needs a time step that divides one day and a run of at least one day'
        return
      end if
      change = huge(1.0_dp)
      left = huge(1.0_dp)
      do while (ncycles < col%iopt(io_spinup_max))
        ncycles = ncycles + 1
        tstart = t
        do step = 1, nday
          kt = min(step, ubound(theta, 2))
          call one_step(col, zc, t, dtn, g, dg, forc(:, step), theta(:, kt), dpsurf, dpsoil, &
                        flux_out(:, 0), dflux(:, :, 0), errflg, msg)
          if (errflg /= 0) then
            errmsg = 'spin-up: '//trim(msg)
            return
          end if
        end do
        prev = change
        change = maxval(abs(t - tstart))
        left = spinup_left(change, prev, ncycles)       ! the forward run's own stop
        if (change == 0 .or. left <= col%rset(rs_spinup_tol)) exit
      end do
      if (.not. (change == 0 .or. left <= col%rset(rs_spinup_tol))) then
        errflg = err_spinup
        errmsg = 'spin-up: the profile was not periodic; raise spinup_max_cycles or spinup_tol'
        return
      end if
      ! level 0 of the run: the spun-up state with the forcing of level 0
      call fluxes_tangent(col, zc, t, dtn, forc(:, 0), theta(:, 0), dpsurf, dpsoil, &
                          flux_out(:, 0), dflux(:, :, 0))
      if (col%iopt(io_top) /= top_temperature) then
        g = flux_out(ix_qg, 0)
        dg = dflux(ix_qg, :, 0)
      end if
    end if
    call record(0)
    do l = 1, nt
      kt = min(l, ubound(theta, 2))
      call one_step(col, zc, t, dtn, g, dg, forc(:, l), theta(:, kt), dpsurf, dpsoil, flux_out(:, l), &
                    dflux(:, :, l), errflg, msg)
      if (errflg /= 0) then
        write (errmsg, '(a,i0,2a)', iostat=ios_msg) 'step ', l, ': ', trim(msg)
        return
      end if
      call record(l)
    end do

  contains

    subroutine record(level)
      integer, intent(in) :: level
      integer :: j
      do j = 1, size(probes)
        t_probe(j, level) = t(probes(j))
        dt_probe(j, :, level) = dtn(probes(j), :)
      end do
    end subroutine record

  end subroutine tangent_run

  !> Derivatives of the coefficients along every direction at soil moisture theta (complex
  !> step through the soil properties and the coefficients).
  subroutine zcoefficients(col, dpsoil, theta, zc)
    type(column_t), intent(in) :: col
    real(dp), intent(in) :: dpsoil(:, 0:, :), theta(0:)
    type(dcoef_t), intent(inout) :: zc
    complex(dp) :: pz(npsoil, 0:col%n), lam(0:col%n), cv(0:col%n), a(0:col%n), c(0:col%n), c0, g1
    integer :: k
    do k = 1, size(dpsoil, 3)
      if (all(dpsoil(:, :, k) == 0)) then
        zc%a(:, k) = 0
        zc%c(:, k) = 0
        zc%c0(k) = 0
        zc%g1(k) = 0
        cycle
      end if
      pz = cmplx(col%psoil, cstep*dpsoil(:, :, k), kind=dp)
      call node_properties_z(col%iopt(io_soil), pz, theta, lam, cv)
      call coefficients_z(col%h, col%w, col%dt, lam, cv, a, c, c0, g1)
      zc%a(:, k) = aimag(a)/cstep
      zc%c(:, k) = aimag(c)/cstep
      zc%c0(k) = aimag(c0)/cstep
      zc%g1(k) = aimag(g1)/cstep
    end do
  end subroutine zcoefficients

  !> One step of the state (t, g) and of its tangents (dtn, dg): the step itself by
  !> column_step, then J dT^(n+1) = -b with b = dF (the derivative of the step residual along
  !> each direction at the converged T^(n+1)), then the flux tangents.
  subroutine one_step(col, zc, t, dtn, g, dg, forc_new, theta_new, dpsurf, dpsoil, flux, dflux, &
                      errflg, errmsg)
    type(column_t), intent(in) :: col
    type(dcoef_t), intent(inout) :: zc
    real(dp), intent(inout) :: t(0:), dtn(0:, :), g, dg(:)   !< state, its tangents; G^n and its tangents
    real(dp), intent(in) :: forc_new(nforc), theta_new(0:)
    real(dp), intent(in) :: dpsurf(:, :), dpsoil(:, 0:, :)
    real(dp), intent(out) :: flux(nflux), dflux(:, :)
    integer, intent(out) :: errflg
    character(len=*), intent(out) :: errmsg
    real(dp) :: tn(0:col%n), a(0:col%n), c(0:col%n), c0, g1, th, gprev
    real(dp) :: q(1:col%n), rden(1:col%n), d0, u0, b(0:col%n, size(dpsurf, 2))
    real(dp) :: dtold(0:col%n, size(dpsurf, 2)), dcdt(nflux), dcdp(nflux, size(dpsurf, 2))
    real(dp) :: gnew, dgdt, ga(1:col%n), gc(1:col%n)
    integer :: n, k, i, niter

    if (freezing_active(col, theta_new)) then
      call one_step_freezing(col, zc, t, dtn, g, dg, forc_new, theta_new, dpsurf, dpsoil, flux, dflux, &
                             errflg, errmsg)
      return
    end if
    n = col%n
    th = col%rset(rs_theta)
    tn = t(0:n)
    dtold = dtn
    gprev = g
    call column_step(col, t, forc_new, theta_new, g, niter, errflg, errmsg)
    if (errflg /= 0) return
    call step_coefficients(col, theta_new, a, c, c0, g1)
    if (col%iopt(io_soil) == soil_johansen) call zcoefficients(col, dpsoil, theta_new, zc)
    ! the surface terms at the new state: d/dTs and d/dp at fixed Ts
    gnew = 0
    dgdt = 0
    dcdp = 0
    if (col%iopt(io_top) == top_seb) then
      call surface_derivatives(col, zc, t(0), forc_new, theta_new(0), dpsurf, dpsoil, flux, dcdt, dcdp)
      gnew = flux(ix_qg)
      dgdt = dcdt(ix_qg)
    end if

    ! J: the step's tridiagonal matrix at the converged T^(n+1). Its rows 1..n are those of the
    ! step, whose elimination factors are reused; the top row (d0, u0) holds dG/dTs.
    call step_elimination(col, a, c, q, rden)
    select case (col%iopt(io_top))
    case (top_seb)
      d0 = 1 + th*c0 - th*c0*g1*dgdt
      u0 = -th*c0
    case (top_flux)
      d0 = 1 + th*c0
      u0 = -th*c0
    case default
      d0 = 1
      u0 = 0
    end select

    ! b = -dF along every direction: F's dependence on T^n, on the coefficients and on G.
    ! The coefficients' factors (ga, gc) are the same for every direction, and only the
    ! directions that move a soil property (zc%soil) have the terms in da, dc.
    do i = 1, n - 1
      ga(i) = th*(t(i - 1) - t(i)) + (1 - th)*(tn(i - 1) - tn(i))
      gc(i) = th*(t(i + 1) - t(i)) + (1 - th)*(tn(i + 1) - tn(i))
    end do
    ga(n) = th*(t(n - 1) - t(n)) + (1 - th)*(tn(n - 1) - tn(n))
    do k = 1, size(dpsurf, 2)
      if (th < 1) then
        do i = 1, n - 1
          b(i, k) = dtold(i, k) + (1 - th)*(a(i)*(dtold(i - 1, k) - dtold(i, k)) &
                                            + c(i)*(dtold(i + 1, k) - dtold(i, k)))
        end do
      else
        b(1:n - 1, k) = dtold(1:n - 1, k)
      end if
      if (zc%soil(k)) then
        do i = 1, n - 1
          b(i, k) = b(i, k) + (zc%a(i, k)*ga(i) + zc%c(i, k)*gc(i))
        end do
      end if
      select case (col%iopt(io_top))
      case (top_seb)
        b(0, k) = dtold(0, k) &
                  + th*(zc%c0(k)*((t(1) - t(0)) + g1*gnew) + c0*(zc%g1(k)*gnew + g1*dcdp(ix_qg, k))) &
                  + (1 - th)*(zc%c0(k)*((tn(1) - tn(0)) + g1*gprev) &
                              + c0*((dtold(1, k) - dtold(0, k)) + zc%g1(k)*gprev + g1*dg(k)))
      case (top_flux)
        b(0, k) = dtold(0, k) &
                  + th*(zc%c0(k)*((t(1) - t(0)) + g1*forc_new(if_top)) + c0*zc%g1(k)*forc_new(if_top)) &
                  + (1 - th)*(zc%c0(k)*((tn(1) - tn(0)) + g1*gprev) &
                              + c0*((dtold(1, k) - dtold(0, k)) + zc%g1(k)*gprev + g1*dg(k)))
      case default
        b(0, k) = 0
      end select
      select case (col%iopt(io_bottom))
      case (bottom_dirichlet)
        b(n, k) = dpsurf(ip_tb, k)
      case (bottom_zero_flux)
        b(n, k) = dtold(n, k) + zc%a(n, k)*ga(n) + (1 - th)*a(n)*(dtold(n - 1, k) - dtold(n, k))
      case default
        b(n, k) = 0
      end select
    end do
    call solve_factored(th, c, q, rden, d0, u0, b)
    dtn = b

    ! fluxes of the new level and their tangents
    select case (col%iopt(io_top))
    case (top_seb)
      do k = 1, size(dpsurf, 2)
        dflux(:, k) = dcdt*dtn(0, k) + dcdp(:, k)
      end do
    case default
      call column_fluxes(col, t, tn, forc_new, theta_new, .false., flux)
      call other_top_tangent(col, zc, c0, g1, t, dtn, dtold, flux, dflux)
    end select
    g = flux(ix_qg)
    dg = dflux(ix_qg, :)
    if (.not. all(ieee_is_finite(dtn))) then
      errflg = err_state
      errmsg = 'tangent-linear model: non-finite tangents; check the parameters and forcing'
    end if
  end subroutine one_step

  !> Surface fluxes at Ts, their derivative with respect to Ts (dcdt) and along every
  !> direction at fixed Ts (dcdp), by complex steps through the surface balance.
  subroutine surface_derivatives(col, zc, ts, forc, theta_top, dpsurf, dpsoil, flux, dcdt, dcdp)
    type(column_t), intent(in) :: col
    type(dcoef_t), intent(in) :: zc
    real(dp), intent(in) :: ts, forc(nforc), theta_top, dpsurf(:, :), dpsoil(:, 0:, :)
    real(dp), intent(out) :: flux(nflux), dcdt(nflux), dcdp(:, :)
    complex(dp) :: gz, comp(nflux), psz(npsurf), phiz
    integer :: k
    psz = cmplx(col%psurf, 0.0_dp, kind=dp)
    phiz = cmplx(col%psoil(is_porosity, 0), 0.0_dp, kind=dp)
    call surface_balance(cmplx(ts, cstep, kind=dp), forc, psz, col%iopt, col%rset, theta_top, &
                         phiz, gz, comp)
    flux = real(comp, dp)
    dcdt = aimag(comp)/cstep
    do k = 1, size(dpsurf, 2)
      if (.not. zc%surface(k)) then
        dcdp(:, k) = 0
        cycle
      end if
      psz = cmplx(col%psurf, cstep*dpsurf(:, k), kind=dp)
      phiz = cmplx(col%psoil(is_porosity, 0), cstep*dpsoil(is_porosity, 0, k), kind=dp)
      call surface_balance(cmplx(ts, 0.0_dp, kind=dp), forc, psz, col%iopt, col%rset, &
                           theta_top, phiz, gz, comp)
      dcdp(:, k) = aimag(comp)/cstep
    end do
  end subroutine surface_derivatives

  !> Flux tangents with a prescribed top: the heat entering the top half cell,
  !> Qg = ((T_0 - T_0^n) - c_0 (T_1 - T_0))/(c_0 g_1), for a prescribed temperature; zero
  !> for a prescribed flux.
  subroutine other_top_tangent(col, zc, c0, g1, t, dtn, dtold, flux, dflux)
    type(column_t), intent(in) :: col
    type(dcoef_t), intent(in) :: zc
    real(dp), intent(in) :: c0, g1, t(0:), dtn(0:, :), dtold(0:, :), flux(nflux)
    real(dp), intent(out) :: dflux(:, :)
    integer :: k
    real(dp) :: dq
    dflux = 0
    if (col%iopt(io_top) /= top_temperature) return
    do k = 1, size(dflux, 2)
      dq = (dtn(0, k) - dtold(0, k)) - zc%c0(k)*(t(1) - t(0)) - c0*(dtn(1, k) - dtn(0, k))
      dflux(ix_qg, k) = dq/(c0*g1) - flux(ix_qg)*(zc%c0(k)/c0 + zc%g1(k)/g1)
    end do
  end subroutine other_top_tangent

  !> Solve J x = b for every column of b (in place): rows 1..n by the step's elimination
  !> factors (x_i = p_i + q_i x_(i-1), p_i = (b_i + theta c_i p_(i+1)) rden_i), the top row
  !> d0 x_0 + u0 x_1 = b_0, then back substitution. No division but the top row's.
  pure subroutine solve_factored(th, c, q, rden, d0, u0, b)
    real(dp), intent(in) :: th, c(0:), q(1:), rden(1:), d0, u0
    real(dp), intent(inout) :: b(0:, :)
    integer :: i, n
    n = size(b, 1) - 1
    b(n, :) = b(n, :)*rden(n)
    do i = n - 1, 1, -1
      b(i, :) = (b(i, :) + th*c(i)*b(i + 1, :))*rden(i)
    end do
    b(0, :) = (b(0, :) - u0*b(1, :))/(d0 + u0*q(1))
    do i = 1, n
      b(i, :) = b(i, :) + q(i)*b(i - 1, :)
    end do
  end subroutine solve_factored

  !> Fluxes at an initial level (no step before it) and their tangents.
  subroutine fluxes_tangent(col, zc, t, dt, forc, theta, dpsurf, dpsoil, flux, dflux)
    type(column_t), intent(in) :: col
    type(dcoef_t), intent(in) :: zc
    real(dp), intent(in) :: t(0:), dt(0:, :), forc(nforc), theta(0:)
    real(dp), intent(in) :: dpsurf(:, :), dpsoil(:, 0:, :)
    real(dp), intent(out) :: flux(nflux), dflux(:, :)
    real(dp) :: dcdt(nflux), dcdp(nflux, size(dpsurf, 2))
    integer :: k
    call column_fluxes(col, t, t, forc, theta, .true., flux)
    dflux = 0
    if (col%iopt(io_top) /= top_seb) return
    call surface_derivatives(col, zc, t(0), forc, theta(0), dpsurf, dpsoil, flux, dcdt, dcdp)
    do k = 1, size(dpsurf, 2)
      dflux(:, k) = dcdt*dt(0, k) + dcdp(:, k)
    end do
  end subroutine fluxes_tangent

  !> one_step with freeze-thaw (docs/theory.md eq. 17): the step by column_step, then
  !> J dT^(n+1) = -dF with J the whole-column Jacobian of the freezing step at the converged
  !> T^(n+1) (beta_i dwl_i/dT on its diagonal) and dF the complex-step derivative of the step's
  !> residual along each direction: T^n + i s dT^n, G^n + i s dG^n and the parameters
  !> + i s dp, at the real T^(n+1) (the latent heat of both levels and the properties at the
  !> old level's ice included).
  subroutine one_step_freezing(col, zc, t, dtn, g, dg, forc_new, theta_new, dpsurf, dpsoil, flux, &
                               dflux, errflg, errmsg)
    type(column_t), intent(in) :: col
    type(dcoef_t), intent(inout) :: zc
    real(dp), intent(inout) :: t(0:), dtn(0:, :), g, dg(:)
    real(dp), intent(in) :: forc_new(nforc), theta_new(0:)
    real(dp), intent(in) :: dpsurf(:, :), dpsoil(:, 0:, :)
    real(dp), intent(out) :: flux(nflux), dflux(:, :)
    integer, intent(out) :: errflg
    character(len=*), intent(out) :: errmsg
    real(dp) :: tn(0:col%n), a(0:col%n), c(0:col%n), c0, g1, cv(0:col%n), beta(0:col%n), th
    real(dp) :: jd(0:col%n), jl(0:col%n), ju(0:col%n), b(0:col%n, size(dpsurf, 2)), wl, dwl, gg, dgg
    real(dp) :: dcdt(nflux), dcdp(nflux, size(dpsurf, 2)), gprev, dtold(0:col%n, size(dpsurf, 2))
    complex(dp) :: fz(0:col%n), qz
    integer :: n, i, k, niter, first, last

    n = col%n
    th = col%rset(rs_theta)
    tn = t(0:n)
    dtold = dtn
    gprev = g
    call column_step(col, t, forc_new, theta_new, g, niter, errflg, errmsg)
    if (errflg /= 0) return
    first = 0
    if (col%iopt(io_top) == top_temperature) first = 1
    last = n
    if (col%iopt(io_bottom) /= bottom_zero_flux) last = n - 1
    ! J at the converged state
    call freezing_coefficients(col, theta_new, tn, a, c, c0, g1, cv, beta)
    jd = 1
    jl = 0
    ju = 0
    do i = first, last
      call liquid_water(col%iopt(io_freezing), col%psoil(:, i), theta_new(i), t(i), wl, dwl)
      jd(i) = 1 + beta(i)*dwl
      if (i == 0) then
        dgg = 0
        if (col%iopt(io_top) == top_seb) call ground_flux(col, t(0), forc_new, theta_new(0), gg, dgg)
        jd(0) = jd(0) + th*c0*(1 - g1*dgg)
        ju(0) = -th*c0
      else if (i == n) then
        jd(n) = jd(n) + th*a(n)
        jl(n) = -th*a(n)
      else
        jd(i) = jd(i) + th*(a(i) + c(i))
        if (i > first) jl(i) = -th*a(i)
        if (i < last) ju(i) = -th*c(i)
      end if
    end do
    ! -dF along every direction
    do k = 1, size(dpsurf, 2)
      call residual_z(k, fz, qz)
      b(:, k) = -aimag(fz)/cstep
    end do
    call solve_rows(b)
    dtn = b

    ! fluxes of the new level and their tangents
    select case (col%iopt(io_top))
    case (top_seb)
      call surface_derivatives(col, zc, t(0), forc_new, theta_new(0), dpsurf, dpsoil, flux, dcdt, dcdp)
      do k = 1, size(dpsurf, 2)
        dflux(:, k) = dcdt*dtn(0, k) + dcdp(:, k)
      end do
    case default
      call column_fluxes(col, t, tn, forc_new, theta_new, .false., flux)
      dflux = 0
      if (col%iopt(io_top) == top_temperature) then
        do k = 1, size(dpsurf, 2)
          call residual_z(k, fz, qz)
          dflux(ix_qg, k) = aimag(qz)/cstep
        end do
      end if
    end select
    g = flux(ix_qg)
    dg = dflux(ix_qg, :)
    if (.not. all(ieee_is_finite(dtn))) then
      errflg = err_state
      errmsg = 'tangent-linear model: non-finite tangents; check the parameters and forcing'
    end if

  contains

    !> The step's residual fz (rows first..last; a prescribed node: T - its value) at the real
    !> T^(n+1) = t with T^n, G^n and the parameters perturbed along direction k (imaginary
    !> parts), and the top half cell's heat flux qz with T^(n+1) + i s dT^(n+1) (prescribed
    !> top temperature).
    subroutine residual_z(k, fz, qz)
      integer, intent(in) :: k
      complex(dp), intent(out) :: fz(0:), qz
      complex(dp) :: pz(npsoil, 0:n), psz(npsurf), tz(0:n), wo(0:n), wlz(0:n), lam(0:n), cvz(0:n)
      complex(dp) :: az(0:n), cz(0:n), c0z, g1z, bz(0:n), rz(0:n), gz, comp(nflux), gold, ynew(0:n)
      integer :: j
      pz = cmplx(col%psoil, cstep*dpsoil(:, :, k), kind=dp)
      psz = cmplx(col%psurf, cstep*dpsurf(:, k), kind=dp)
      tz = cmplx(tn, cstep*dtold(:, k), kind=dp)
      gold = cmplx(gprev, cstep*dg(k), kind=dp)
      do j = 0, n
        call liquid_water_z(col%iopt(io_freezing), pz(:, j), theta_new(j), tz(j), wo(j))
      end do
      call frozen_properties_z(col%iopt(io_soil), pz, theta_new, wo, lam, cvz)
      call coefficients_z(col%h, col%w, col%dt, lam, cvz, az, cz, c0z, g1z)
      bz = rho_water*l_fusion/cvz
      rz = tz + bz*wo
      if (th < 1) then
        do j = 1, n - 1
          rz(j) = rz(j) + (1 - th)*(az(j)*(tz(j - 1) - tz(j)) + cz(j)*(tz(j + 1) - tz(j)))
        end do
        if (col%iopt(io_bottom) == bottom_zero_flux) rz(n) = rz(n) + (1 - th)*az(n)*(tz(n - 1) - tz(n))
        if (col%iopt(io_top) /= top_temperature) rz(0) = rz(0) + (1 - th)*c0z*((tz(1) - tz(0)) + g1z*gold)
      end if
      fz = 0
      do j = first, last
        call liquid_water_z(col%iopt(io_freezing), pz(:, j), theta_new(j), cmplx(t(j), 0.0_dp, kind=dp), wlz(j))
        fz(j) = t(j) + bz(j)*wlz(j) - rz(j)
        if (j == 0) then
          if (col%iopt(io_top) == top_flux) then
            gz = forc_new(if_top)
          else
            call surface_balance(cmplx(t(0), 0.0_dp, kind=dp), forc_new, psz, col%iopt, col%rset, theta_new(0), &
                                 pz(is_porosity, 0), gz, comp)
          end if
          fz(0) = fz(0) - th*c0z*((t(1) - t(0)) + g1z*gz)
        else if (j == n) then
          fz(n) = fz(n) - th*az(n)*(t(n - 1) - t(n))
        else
          fz(j) = fz(j) - th*(az(j)*(t(j - 1) - t(j)) + cz(j)*(t(j + 1) - t(j)))
        end if
      end do
      if (last < n) then
        if (col%iopt(io_bottom) == bottom_dirichlet) then
          fz(n) = t(n) - psz(ip_tb)
        else
          fz(n) = 0
        end if
      end if
      qz = 0
      if (first == 1) then
        ! Qg = ((T_0 - T_0^n) + beta_0 (wl(T_0) - wl(T_0^n)) - c_0 (T_1 - T_0))/(c_0 g_1)
        ynew = cmplx(t(0:n), cstep*dtn(:, k), kind=dp)
        call liquid_water_z(col%iopt(io_freezing), pz(:, 0), theta_new(0), ynew(0), wlz(0))
        qz = ((ynew(0) - tz(0)) + bz(0)*(wlz(0) - wo(0)) - c0z*(ynew(1) - ynew(0)))/(c0z*g1z)
      end if
    end subroutine residual_z

    !> Solve J x = b for every column (in place): rows first..last by Thomas, a prescribed
    !> node's row is x = b.
    subroutine solve_rows(bb)
      real(dp), intent(inout) :: bb(0:, :)
      real(dp) :: cp(0:n), den(0:n)
      integer :: j
      cp(first) = ju(first)/jd(first)
      den(first) = jd(first)
      do j = first + 1, last
        den(j) = jd(j) - jl(j)*cp(j - 1)
        cp(j) = ju(j)/den(j)
      end do
      ! the prescribed neighbours enter through their rows' known values
      if (first == 1) bb(1, :) = bb(1, :) + th*a(1)*bb(0, :)
      if (last == n - 1) bb(n - 1, :) = bb(n - 1, :) + th*c(n - 1)*bb(n, :)
      bb(first, :) = bb(first, :)/den(first)
      do j = first + 1, last
        bb(j, :) = (bb(j, :) - jl(j)*bb(j - 1, :))/den(j)
      end do
      do j = last - 1, first, -1
        bb(j, :) = bb(j, :) - cp(j)*bb(j + 1, :)
      end do
    end subroutine solve_rows

  end subroutine one_step_freezing

end module sebcal_tangent

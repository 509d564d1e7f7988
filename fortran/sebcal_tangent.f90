!> The tangent-linear model of a column run: the run itself and, for P directions in parameter
!> space, the exact derivatives of the temperatures at chosen nodes and of the surface fluxes
!> at every level (docs/theory.md sec. 6). Used by the Levenberg-Marquardt calibration, whose
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
  use sebcal_column, only: column_t, column_step, column_fluxes, set_coefficients, ground_flux, cstep
  use sebcal_surface, only: surface_balance
  use sebcal_soil, only: node_properties_z, coefficients_z
  implicit none
  private
  public :: tangent_run

  !> Complex coefficients of each direction (constant soil: computed once per run).
  type :: zcoef_t
    complex(dp), allocatable :: a(:, :), c(:, :)     !< (0:n, P)
    complex(dp), allocatable :: c0(:), g1(:)         !< (P)
  end type zcoef_t

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
    real(dp) :: t(0:col%n), dtn(0:col%n, size(dpsurf, 2)), g, dg(size(dpsurf, 2))
    real(dp) :: tstart(0:col%n), change
    integer :: nt, np, n, k, l, nday, kt, step
    type(zcoef_t) :: zc
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
    allocate (zc%a(0:n, np), zc%c(0:n, np), zc%c0(np), zc%g1(np))
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
    call fluxes_tangent(col, zc, t, t, dtn, dtn, forc(:, 0), theta(:, 0), .true., dpsurf, dpsoil, &
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
        change = maxval(abs(t - tstart))
        if (change <= col%rset(rs_spinup_tol)) exit
      end do
      if (change > col%rset(rs_spinup_tol)) then
        errflg = err_spinup
        errmsg = 'spin-up: the profile was not periodic; raise spinup_max_cycles or spinup_tol'
        return
      end if
      ! level 0 of the run: the spun-up state with the forcing of level 0
      call fluxes_tangent(col, zc, t, t, dtn, dtn, forc(:, 0), theta(:, 0), .true., dpsurf, dpsoil, &
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
        write (errmsg, '(a,i0,2a)') 'step ', l, ': ', trim(msg)
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

  !> Complex coefficients of every direction at soil moisture theta.
  subroutine zcoefficients(col, dpsoil, theta, zc)
    type(column_t), intent(in) :: col
    real(dp), intent(in) :: dpsoil(:, 0:, :), theta(0:)
    type(zcoef_t), intent(inout) :: zc
    complex(dp) :: pz(npsoil, 0:col%n), lam(0:col%n), cv(0:col%n)
    integer :: k
    do k = 1, size(dpsoil, 3)
      pz = cmplx(col%psoil, cstep*dpsoil(:, :, k), kind=dp)
      call node_properties_z(col%iopt(io_soil), pz, theta, lam, cv)
      call coefficients_z(col%h, col%w, col%dt, lam, cv, zc%a(:, k), zc%c(:, k), zc%c0(k), zc%g1(k))
    end do
  end subroutine zcoefficients

  !> One step of the state (t, g) and of its tangents (dtn, dg): the step itself by
  !> column_step, then J dT^(n+1) = -b with b the complex-step derivative of F.
  subroutine one_step(col, zc, t, dtn, g, dg, forc_new, theta_new, dpsurf, dpsoil, flux, dflux, &
                      errflg, errmsg)
    type(column_t), intent(in) :: col
    type(zcoef_t), intent(inout) :: zc
    real(dp), intent(inout) :: t(0:), dtn(0:, :), g, dg(:)   !< state, its tangents; G^n and its tangents
    real(dp), intent(in) :: forc_new(nforc), theta_new(0:)
    real(dp), intent(in) :: dpsurf(:, :), dpsoil(:, 0:, :)
    real(dp), intent(out) :: flux(nflux), dflux(:, :)
    integer, intent(out) :: errflg
    character(len=*), intent(out) :: errmsg
    real(dp) :: told(0:col%n), a(0:col%n), c(0:col%n), c0, g1, gs, dgs, th, gprev
    real(dp) :: lo(0:col%n), di(0:col%n), up(0:col%n), b(0:col%n, size(dpsurf, 2))
    real(dp) :: dtold(0:col%n, size(dpsurf, 2))
    complex(dp) :: tz(0:col%n), f(0:col%n), psz(npsurf), phiz, gnew, gold, comp(nflux)
    integer :: n, k, i, niter

    n = col%n
    th = col%rset(rs_theta)
    told = t(0:n)
    dtold = dtn
    gprev = g
    call column_step(col, t, forc_new, theta_new, g, niter, errflg, errmsg)
    if (errflg /= 0) return
    if (col%iopt(io_soil) == soil_johansen) then
      call set_coefficients(col, theta_new, a, c, c0, g1)
      call zcoefficients(col, dpsoil, theta_new, zc)
    else
      a = col%a
      c = col%c
      c0 = col%c0
      g1 = col%g1
    end if

    ! J: the step's tridiagonal matrix at the converged T^(n+1)
    lo = 0
    up = 0
    do i = 1, n - 1
      lo(i) = -th*a(i)
      di(i) = 1 + th*(a(i) + c(i))
      up(i) = -th*c(i)
    end do
    select case (col%iopt(io_top))
    case (top_seb)
      call ground_flux(col, t(0), forc_new, theta_new(0), gs, dgs)
      di(0) = 1 + th*c0 - th*c0*g1*dgs
      up(0) = -th*c0
    case (top_flux)
      di(0) = 1 + th*c0
      up(0) = -th*c0
    case default
      di(0) = 1
    end select
    if (col%iopt(io_bottom) == bottom_zero_flux) then
      lo(n) = -th*a(n)
      di(n) = 1 + th*a(n)
    else
      di(n) = 1
    end if

    ! b = Im F(T^(n+1); T^n + i s dT^n, p + i s dp) / s for every direction
    do k = 1, size(dpsurf, 2)
      tz = cmplx(told, cstep*dtold(:, k), kind=dp)
      psz = cmplx(col%psurf, cstep*dpsurf(:, k), kind=dp)
      do i = 1, n - 1
        f(i) = t(i) - tz(i) - th*(zc%a(i, k)*(t(i - 1) - t(i)) + zc%c(i, k)*(t(i + 1) - t(i))) &
               - (1 - th)*(zc%a(i, k)*(tz(i - 1) - tz(i)) + zc%c(i, k)*(tz(i + 1) - tz(i)))
      end do
      select case (col%iopt(io_top))
      case (top_seb)
        phiz = cmplx(col%psoil(is_porosity, 0), cstep*dpsoil(is_porosity, 0, k), kind=dp)
        call surface_balance(cmplx(t(0), 0.0_dp, kind=dp), forc_new, psz, col%iopt, col%rset(rs_wind_min), &
                             theta_new(0), phiz, gnew, comp)
        gold = cmplx(gprev, cstep*dg(k), kind=dp)
        f(0) = t(0) - tz(0) - th*zc%c0(k)*((t(1) - t(0)) + zc%g1(k)*gnew) &
               - (1 - th)*zc%c0(k)*((tz(1) - tz(0)) + zc%g1(k)*gold)
      case (top_flux)
        gold = cmplx(gprev, cstep*dg(k), kind=dp)
        f(0) = t(0) - tz(0) - th*zc%c0(k)*((t(1) - t(0)) + zc%g1(k)*forc_new(if_top)) &
               - (1 - th)*zc%c0(k)*((tz(1) - tz(0)) + zc%g1(k)*gold)
      case default
        f(0) = 0
      end select
      select case (col%iopt(io_bottom))
      case (bottom_dirichlet)
        f(n) = t(n) - psz(ip_tb)
      case (bottom_zero_flux)
        f(n) = t(n) - tz(n) - th*zc%a(n, k)*(t(n - 1) - t(n)) - (1 - th)*zc%a(n, k)*(tz(n - 1) - tz(n))
      case default
        f(n) = 0
      end select
      b(:, k) = -aimag(f)/cstep
    end do
    call thomas(lo, di, up, b)
    dtn = b

    call fluxes_tangent(col, zc, t, told, dtn, dtold, forc_new, theta_new, .false., dpsurf, dpsoil, &
                        flux, dflux)
    g = flux(ix_qg)
    dg = dflux(ix_qg, :)
    if (.not. all(ieee_is_finite(dtn))) then
      errflg = err_state
      errmsg = 'tangent-linear model: non-finite tangents; check the parameters and forcing'
    end if

  end subroutine one_step

  !> Solve the tridiagonal systems (lo, di, up) x = b for every column of b (in place).
  pure subroutine thomas(lo, di, up, b)
    real(dp), intent(in) :: lo(0:), di(0:), up(0:)
    real(dp), intent(inout) :: b(0:, :)
    real(dp) :: cp(0:size(di) - 1), den
    integer :: i, n
    n = size(di) - 1
    cp(0) = up(0)/di(0)
    b(0, :) = b(0, :)/di(0)
    do i = 1, n
      den = di(i) - lo(i)*cp(i - 1)
      if (i < n) cp(i) = up(i)/den
      b(i, :) = (b(i, :) - lo(i)*b(i - 1, :))/den
    end do
    do i = n - 1, 0, -1
      b(i, :) = b(i, :) - cp(i)*b(i + 1, :)
    end do
  end subroutine thomas

  !> Fluxes at a level and their tangents: the real fluxes by column_fluxes; the tangents by
  !> the complex surface balance (top = seb) or the complex Qg formula of a prescribed top
  !> temperature; zero for a prescribed flux.
  subroutine fluxes_tangent(col, zc, t, told, dt, dtold, forc, theta, first, dpsurf, dpsoil, flux, dflux)
    type(column_t), intent(in) :: col
    type(zcoef_t), intent(in) :: zc
    real(dp), intent(in) :: t(0:), told(0:), dt(0:, :), dtold(0:, :), forc(nforc), theta(0:)
    logical, intent(in) :: first
    real(dp), intent(in) :: dpsurf(:, :), dpsoil(:, 0:, :)
    real(dp), intent(out) :: flux(nflux), dflux(:, :)
    complex(dp) :: gz, comp(nflux), t0, t1, t0o
    integer :: k
    call column_fluxes(col, t, told, forc, theta, first, flux)
    dflux = 0
    do k = 1, size(dpsurf, 2)
      select case (col%iopt(io_top))
      case (top_seb)
        call surface_balance(cmplx(t(0), cstep*dt(0, k), kind=dp), forc, &
                             cmplx(col%psurf, cstep*dpsurf(:, k), kind=dp), col%iopt, col%rset(rs_wind_min), &
                             theta(0), cmplx(col%psoil(is_porosity, 0), cstep*dpsoil(is_porosity, 0, k), kind=dp), &
                             gz, comp)
        dflux(:, k) = aimag(comp)/cstep
      case (top_temperature)
        if (.not. first) then
          t0 = cmplx(t(0), cstep*dt(0, k), kind=dp)
          t1 = cmplx(t(1), cstep*dt(1, k), kind=dp)
          t0o = cmplx(told(0), cstep*dtold(0, k), kind=dp)
          gz = ((t0 - t0o) - zc%c0(k)*(t1 - t0))/(zc%c0(k)*zc%g1(k))
          dflux(ix_qg, k) = aimag(gz)/cstep
        end if
      case default
        dflux(:, k) = 0
      end select
    end do
  end subroutine fluxes_tangent

end module sebcal_tangent

!> Soil column and surface energy balance: the physics of sebcal, with no I/O.
!>
!> Equations (Huang, Heaney & van Reeuwijk, arXiv 2505.02979, sec. 2.2; docs/theory.md):
!>
!>   C dT/dt = lambda d2T/dz2,                          0 < z < z_N, z positive down
!>   G(Ts)   = K_down (1-alpha) + LWabs - eps sigma Ts^4 - h_eff (Ts - Ta)   at z = 0
!>   T(z_N)  = T_b (Dirichlet) or dT/dz(z_N) = 0 (zero flux)
!>
!> Nodes z_0 = 0 < z_1 < ... < z_N; node 0 is the surface (Ts = T_0). Finite volumes of width
!> w_0 = h_1/2, w_i = (h_i + h_(i+1))/2, w_N = h_N/2 with h_i = z_i - z_(i-1), backward Euler:
!>
!>   T_i - T_i^n = a_i (T_(i-1) - T_i) + c_i (T_(i+1) - T_i),   a_i = lambda dt/(C w_i h_i),
!>                                                              c_i = lambda dt/(C w_i h_(i+1))
!>   T_0 - T_0^n = c_0 [ (T_1 - T_0) + (h_1/lambda) G(T_0) ],   c_0 = 2 lambda dt/(C h_1^2)
!>
!> On a uniform grid a_i = c_i = r = lambda dt/(C dx^2) and c_0 = 2r: the paper's stencil.
!> Forcing is taken at the new time level. Arrays are indexed 0..N here (node number).
module sebcal_column
  use, intrinsic :: ieee_arithmetic, only: ieee_value, ieee_quiet_nan, ieee_is_finite
  use sebcal_const
  implicit none
  private

  !> Grid, coefficients, parameters and options of one soil column. Not part of the wrapped API.
  type, public :: column_t
    integer :: n = -1                      !< index of the bottom node (nodes are 0..n)
    real(dp), allocatable :: z(:)          !< node depths [m], (0:n)
    real(dp), allocatable :: h(:)          !< spacings h_i = z_i - z_(i-1) [m], (1:n)
    real(dp), allocatable :: w(:)          !< control-volume widths [m], (0:n)
    real(dp), allocatable :: a(:)          !< lower coefficient a_i [-], (0:n) (a_0 unused)
    real(dp), allocatable :: c(:)          !< upper coefficient c_i [-], (0:n) (c_n unused)
    real(dp) :: dt = 0                     !< time step [s]
    real(dp) :: alpha = 0                  !< albedo [-]
    real(dp) :: eps = 0                    !< emissivity [-]
    real(dp) :: lam = 0                    !< thermal conductivity lambda [W m-1 K-1]
    real(dp) :: cv = 0                     !< volumetric heat capacity C [J m-3 K-1]
    real(dp) :: tb = 0                     !< deep temperature T_b [K]
    real(dp) :: hb = 0                     !< h_eff = h (1 + 1/beta) [W m-2 K-1]
    real(dp) :: beta = 0                   !< Bowen ratio [-]; <= 0 means unknown
    real(dp) :: tol = 0                    !< solver tolerance [K]
    integer :: max_iter = 0                !< max Newton iterations or Jacobi sweeps per step
    integer :: solver = solver_direct
    integer :: lwopt = lw_paper
    integer :: bottom = bottom_dirichlet
  end type column_t

  public :: column_setup, surface_fluxes, column_step, column_spinup, heat_content

contains

  !> Validate the inputs and fill a column_t: grid, coefficients, parameters and options.
  !>
  !> dx > 0 selects the uniform grid z_i = i dx with every spacing exactly dx (so that the
  !> coefficients equal the paper's r bit for bit); dx <= 0 takes the given depths z.
  subroutine column_setup(col, nz, z, dx, dt, alpha, eps, lam, cv, tb, hb, beta, &
                          solver, lwopt, bottom, tol, max_iter, errflg, errmsg)
    type(column_t), intent(inout) :: col
    integer, intent(in) :: nz                 !< number of nodes (>= 2)
    real(dp), intent(in) :: z(nz)             !< node depths [m], z(1) = 0, increasing (ignored if dx > 0)
    real(dp), intent(in) :: dx                !< uniform spacing [m], or <= 0 for the given depths
    real(dp), intent(in) :: dt                !< time step [s]
    real(dp), intent(in) :: alpha, eps, lam, cv, tb, hb, beta
    integer, intent(in) :: solver, lwopt, bottom, max_iter
    real(dp), intent(in) :: tol               !< [K]
    integer, intent(out) :: errflg
    character(len=*), intent(out) :: errmsg
    integer :: i, n
    real(dp) :: kdt

    errflg = 0
    errmsg = ''
    if (nz < 2) then
      errflg = err_grid
      write (errmsg, '(a,i0)') 'grid: need at least 2 nodes, got nz = ', nz
      return
    end if
    n = nz - 1
    if (dx <= 0) then
      if (z(1) /= 0) then
        errflg = err_grid
        write (errmsg, '(a,es12.5,a)') 'grid: the first node depth must be 0 m (the surface), got ', z(1), ' m'
        return
      end if
      do i = 2, nz
        if (.not. (z(i) > z(i - 1)) .or. .not. ieee_is_finite(z(i))) then
          errflg = err_grid
          write (errmsg, '(a,i0,a,es12.5,a,es12.5,a)') 'grid: node depths must increase; node ', i, &
            ' is at ', z(i), ' m after ', z(i - 1), ' m'
          return
        end if
      end do
    end if
    if (.not. (dt > 0)) then
      errflg = err_option
      write (errmsg, '(a,es12.5,a)') 'dt must be > 0 s, got ', dt, ' s'
      return
    end if
    call check_param('lambda', lam, 0.0_dp, huge(1.0_dp), .false., errflg, errmsg)
    call check_param('heat_capacity', cv, 0.0_dp, huge(1.0_dp), .false., errflg, errmsg)
    call check_param('h_eff', hb, 0.0_dp, huge(1.0_dp), .false., errflg, errmsg)
    call check_param('t_bottom', tb, 0.0_dp, huge(1.0_dp), .false., errflg, errmsg)
    call check_param('alpha', alpha, 0.0_dp, 1.0_dp, .true., errflg, errmsg)
    call check_param('emissivity', eps, 0.0_dp, 1.0_dp, .false., errflg, errmsg)
    if (errflg /= 0) return
    if (eps > 1) then
      errflg = err_param
      write (errmsg, '(a,es12.5)') 'emissivity must be <= 1, got ', eps
      return
    end if
    if (.not. ieee_is_finite(beta)) then
      errflg = err_param
      errmsg = 'bowen: the Bowen ratio must be finite (> 0, or <= 0 for "unknown")'
      return
    end if
    if (solver /= solver_direct .and. solver /= solver_jacobi) then
      errflg = err_option
      write (errmsg, '(a,i0,a)') 'solver code ', solver, ' unknown (1 direct, 2 jacobi)'
      return
    end if
    if (lwopt /= lw_paper .and. lwopt /= lw_kirchhoff) then
      errflg = err_option
      write (errmsg, '(a,i0,a)') 'longwave code ', lwopt, ' unknown (1 paper, 2 kirchhoff)'
      return
    end if
    if (bottom /= bottom_dirichlet .and. bottom /= bottom_zero_flux) then
      errflg = err_option
      write (errmsg, '(a,i0,a)') 'bottom code ', bottom, ' unknown (1 dirichlet, 2 zero_flux)'
      return
    end if
    if (.not. (tol > 0) .or. max_iter < 1) then
      errflg = err_option
      write (errmsg, '(a,es12.5,a,i0)') 'solver needs tol > 0 K and max_iter >= 1, got tol = ', tol, &
        ', max_iter = ', max_iter
      return
    end if

    if (allocated(col%z)) deallocate (col%z, col%h, col%w, col%a, col%c)
    allocate (col%z(0:n), col%h(1:n), col%w(0:n), col%a(0:n), col%c(0:n))
    col%n = n
    if (dx > 0) then
      do i = 0, n
        col%z(i) = i*dx
      end do
      col%h(:) = dx
    else
      col%z(0:n) = z(1:nz)
      do i = 1, n
        col%h(i) = z(i + 1) - z(i)
      end do
    end if
    col%w(0) = 0.5_dp*col%h(1)
    do i = 1, n - 1
      col%w(i) = 0.5_dp*(col%h(i) + col%h(i + 1))
    end do
    col%w(n) = 0.5_dp*col%h(n)

    ! kdt/(w h) with w h = dx*dx on the uniform grid gives the paper's r = lambda/C*dt/dx**2 exactly
    kdt = lam/cv*dt
    col%a(0) = 0
    col%c(0) = 2*(kdt/(col%h(1)*col%h(1)))
    do i = 1, n - 1
      col%a(i) = kdt/(col%w(i)*col%h(i))
      col%c(i) = kdt/(col%w(i)*col%h(i + 1))
    end do
    col%a(n) = kdt/(col%w(n)*col%h(n))
    col%c(n) = 0

    col%dt = dt
    col%alpha = alpha
    col%eps = eps
    col%lam = lam
    col%cv = cv
    col%tb = tb
    col%hb = hb
    col%beta = max(beta, 0.0_dp)
    col%solver = solver
    col%lwopt = lwopt
    col%bottom = bottom
    col%tol = tol
    col%max_iter = max_iter
  end subroutine column_setup

  subroutine check_param(name, val, lo, hi, lo_closed, errflg, errmsg)
    character(len=*), intent(in) :: name
    real(dp), intent(in) :: val, lo, hi
    logical, intent(in) :: lo_closed
    integer, intent(inout) :: errflg
    character(len=*), intent(inout) :: errmsg
    logical :: ok
    if (errflg /= 0) return
    ok = ieee_is_finite(val) .and. val <= hi
    if (lo_closed) then
      ok = ok .and. val >= lo
    else
      ok = ok .and. val > lo
    end if
    if (.not. ok) then
      errflg = err_param
      write (errmsg, '(3a,es12.5)') 'parameter ', name, ' outside its physical bounds: ', val
    end if
  end subroutine check_param

  !> Surface flux terms at surface temperature ts [K] and forcing sw, lw [W m-2], ta [K].
  !>
  !> flux(ix_*) [W m-2]: SWnet, LWdown, LWup, Qh, Qle, Qg, Qh+Qle. Qg = SWnet + LWdown - LWup
  !> - (Qh + Qle) is the flux into the soil, equal to G(Ts) of the surface equation.
  pure subroutine surface_fluxes(col, ts, sw, lw, ta, flux)
    type(column_t), intent(in) :: col
    real(dp), intent(in) :: ts, sw, lw, ta
    real(dp), intent(out) :: flux(nflux)
    real(dp) :: turb

    flux(ix_swnet) = sw*(1 - col%alpha)
    flux(ix_lwdown) = lw
    if (col%lwopt == lw_kirchhoff) then
      flux(ix_lwup) = col%eps*sigma_sb*ts**4 + (1 - col%eps)*lw
    else
      flux(ix_lwup) = col%eps*sigma_sb*ts**4
    end if
    turb = col%hb*(ts - ta)
    flux(ix_qturb) = turb
    if (col%beta > 0) then
      flux(ix_qh) = turb*(col%beta/(1 + col%beta))
      flux(ix_qle) = turb/(1 + col%beta)
    else
      flux(ix_qh) = ieee_value(1.0_dp, ieee_quiet_nan)
      flux(ix_qle) = flux(ix_qh)
    end if
    flux(ix_qg) = flux(ix_swnet) + flux(ix_lwdown) - flux(ix_lwup) - turb
  end subroutine surface_fluxes

  !> Advance the column one implicit step: t (in T^n, out T^(n+1)) [K], forcing at n+1.
  subroutine column_step(col, t, sw, lw, ta, niter, errflg, errmsg)
    type(column_t), intent(in) :: col
    real(dp), intent(inout) :: t(0:)         !< temperature at every node [K]
    real(dp), intent(in) :: sw, lw, ta       !< K_down, L_down [W m-2], Ta [K] at the new level
    integer, intent(out) :: niter            !< Newton iterations or Jacobi sweeps used
    integer, intent(out) :: errflg
    character(len=*), intent(out) :: errmsg

    errflg = 0
    errmsg = ''
    if (.not. (ieee_is_finite(sw) .and. ieee_is_finite(lw) .and. ieee_is_finite(ta))) then
      errflg = err_forcing
      errmsg = 'forcing: K_down, L_down and Ta must be finite (gap in the forcing?)'
      niter = 0
      return
    end if
    if (.not. (ta > 0)) then
      errflg = err_forcing
      write (errmsg, '(a,es12.5,a)') 'forcing: air temperature must be > 0 K, got ', ta, ' (degrees Celsius?)'
      niter = 0
      return
    end if
    if (col%solver == solver_jacobi) then
      call step_jacobi(col, t, sw, lw, ta, niter, errflg, errmsg)
    else
      call step_direct(col, t, sw, lw, ta, niter, errflg, errmsg)
    end if
  end subroutine column_step

  !> Direct solve: Thomas elimination from the bottom up (in deviations from a reference temperature), then Newton
  !> on the scalar surface equation phi(T_0) = 0, which is increasing and convex, then back
  !> substitution. Converged when the Newton update is <= tol [K].
  subroutine step_direct(col, t, sw, lw, ta, niter, errflg, errmsg)
    type(column_t), intent(in) :: col
    real(dp), intent(inout) :: t(0:)
    real(dp), intent(in) :: sw, lw, ta
    integer, intent(out) :: niter, errflg
    character(len=*), intent(out) :: errmsg
    real(dp) :: p(1:col%n), q(1:col%n)
    real(dp) :: den, g1, src, es, t0, phi, dphi, d, c0, tref, x
    integer :: i, n

    errflg = 0
    n = col%n
    ! eliminate in deviations from a reference near the profile (T_b, or the old bottom
    ! temperature with a zero-flux bottom, where T_b must not enter): the p_i then hold a few
    ! kelvin, not ~300 K, and the elimination adds ~100 times less round-off
    if (col%bottom == bottom_dirichlet) then
      tref = col%tb
    else
      tref = t(n)
    end if
    if (col%bottom == bottom_dirichlet) then
      p(n) = 0
      q(n) = 0
    else
      den = 1 + col%a(n)
      p(n) = (t(n) - tref)/den
      q(n) = col%a(n)/den
    end if
    do i = n - 1, 1, -1
      den = 1 + col%a(i) + col%c(i) - col%c(i)*q(i + 1)
      p(i) = ((t(i) - tref) + col%c(i)*p(i + 1))/den
      q(i) = col%a(i)/den
    end do

    ! with x = T0 - tref:
    ! phi(x) = (1 + c0 (1 - q1)) x - c0 p1 - (T0^n - tref) - c0 g1 (src - es T0^4 - hb T0)
    c0 = col%c(0)
    g1 = col%h(1)/col%lam
    src = sw*(1 - col%alpha) + absorbed_lw(col, lw) + col%hb*ta
    es = col%eps*sigma_sb
    x = t(0) - tref
    niter = 0
    do
      niter = niter + 1
      t0 = tref + x
      phi = (1 + c0*(1 - q(1)))*x - c0*p(1) - (t(0) - tref) - c0*g1*(src - es*t0**4 - col%hb*t0)
      dphi = 1 + c0*(1 - q(1)) + c0*g1*(4*es*t0**3 + col%hb)
      d = phi/dphi
      x = x - d
      if (.not. ieee_is_finite(x) .or. tref + x <= 0) then
        errflg = err_state
        write (errmsg, '(a,es12.5,a)') 'direct solver: surface temperature left the physical range (', tref + x, &
          ' K); check the parameters and forcing'
        return
      end if
      if (abs(d) <= col%tol) exit
      if (niter >= col%max_iter) then
        errflg = err_converge
        write (errmsg, '(a,i0,a,es10.3,a,es10.3,a)') 'direct solver: Newton did not converge in ', niter, &
          ' iterations (last update ', d, ' K, tol ', col%tol, ' K); raise max_iter or tol'
        return
      end if
    end do
    t(0) = tref + x
    do i = 1, n
      x = p(i) + q(i)*x
      t(i) = tref + x
    end do
  end subroutine step_direct

  !> The published Jacobi iteration (model.md sec. 1.4): first guess T^n, simultaneous update,
  !> lagged (T_0^k)^3 in the emission term, stop when max |T^(k+1) - T^(k)| <= tol.
  subroutine step_jacobi(col, t, sw, lw, ta, niter, errflg, errmsg)
    type(column_t), intent(in) :: col
    real(dp), intent(inout) :: t(0:)
    real(dp), intent(in) :: sw, lw, ta
    integer, intent(out) :: niter, errflg
    character(len=*), intent(out) :: errmsg
    real(dp) :: tn(0:col%n), tk(0:col%n), tnew(0:col%n)
    real(dp) :: err, g1, src
    integer :: i, n

    errflg = 0
    n = col%n
    tn = t(0:n)
    tk = tn
    g1 = col%h(1)/col%lam
    ! same grouping as the published code: K(1-alpha) + L + hb*Ta
    src = sw*(1 - col%alpha) + absorbed_lw(col, lw) + col%hb*ta
    niter = 0
    err = huge(1.0_dp)
    do while (err > col%tol)
      niter = niter + 1
      if (niter > col%max_iter) then
        errflg = err_converge
        write (errmsg, '(a,i0,a,es10.3,a,es10.3,a)') 'jacobi solver: no convergence in ', col%max_iter, &
          ' sweeps (last increment ', err, ' K, tol ', col%tol, ' K); raise max_iter or tol'
        return
      end if
      do i = 1, n - 1
        tnew(i) = (col%a(i)*tk(i - 1) + col%c(i)*tk(i + 1) + tn(i))/(1 + col%a(i) + col%c(i))
      end do
      tnew(0) = (tn(0) + col%c(0)*(tk(1) + g1*src)) &
                /(1 + col%c(0)*(1 + g1*(col%hb + sigma_sb*col%eps*tk(0)**3)))
      if (col%bottom == bottom_dirichlet) then
        tnew(n) = col%tb
      else
        tnew(n) = (tn(n) + col%a(n)*tk(n - 1))/(1 + col%a(n))
      end if
      err = maxval(abs(tnew - tk))
      if (.not. ieee_is_finite(err)) then
        errflg = err_state
        errmsg = 'jacobi solver: temperatures became non-finite; check the parameters and forcing'
        return
      end if
      tk = tnew
    end do
    t(0:n) = tk
  end subroutine step_jacobi

  pure real(dp) function absorbed_lw(col, lw)
    type(column_t), intent(in) :: col
    real(dp), intent(in) :: lw
    if (col%lwopt == lw_kirchhoff) then
      absorbed_lw = col%eps*lw
    else
      absorbed_lw = lw
    end if
  end function absorbed_lw

  !> Spin-up: repeat forcing levels 1..nday (one day) from the profile t until the profile at
  !> the end of a day differs from that at its start by <= tol [K] (max norm).
  subroutine column_spinup(col, t, nday, sw, lw, ta, tol, max_cycles, ncycles, errflg, errmsg)
    type(column_t), intent(in) :: col
    real(dp), intent(inout) :: t(0:)
    integer, intent(in) :: nday                    !< steps in one day
    real(dp), intent(in) :: sw(nday), lw(nday), ta(nday)   !< forcing at levels 1..nday
    real(dp), intent(in) :: tol
    integer, intent(in) :: max_cycles
    integer, intent(out) :: ncycles, errflg
    character(len=*), intent(out) :: errmsg
    real(dp) :: tstart(0:col%n), change
    integer :: k, niter

    errflg = 0
    errmsg = ''
    ncycles = 0
    change = huge(1.0_dp)
    do while (ncycles < max_cycles)
      ncycles = ncycles + 1
      tstart = t(0:col%n)
      do k = 1, nday
        call column_step(col, t, sw(k), lw(k), ta(k), niter, errflg, errmsg)
        if (errflg /= 0) then
          errmsg = 'spin-up: '//trim(errmsg)
          return
        end if
      end do
      change = maxval(abs(t(0:col%n) - tstart))
      if (change <= tol) return
    end do
    errflg = err_spinup
    write (errmsg, '(a,i0,a,es10.3,a,es10.3,a)') 'spin-up: the profile was not periodic after ', max_cycles, &
      ' repeats of the first day (last change ', change, ' K, tol ', tol, ' K); raise spinup_max_cycles or spinup_tol'
  end subroutine column_spinup

  !> Heat content of the column sum_i C w_i T_i [J m-2] over the prognostic nodes (the
  !> Dirichlet bottom node is excluded, the zero-flux one included).
  pure real(dp) function heat_content(col, t)
    type(column_t), intent(in) :: col
    real(dp), intent(in) :: t(0:)
    integer :: last
    last = col%n
    if (col%bottom == bottom_dirichlet) last = col%n - 1
    heat_content = col%cv*sum(col%w(0:last)*t(0:last))
  end function heat_content

end module sebcal_column

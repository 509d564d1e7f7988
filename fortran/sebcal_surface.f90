!> Surface energy balance of the soil surface: radiation, turbulent heat and the ground heat
!> flux G(Ts) (docs/theory.md, eq. 2-7). Pure, no I/O.
!>
!>   G(Ts) = tau_sw K_down (1 - alpha) + tau_lw (LWabs - eps sigma Ts^4) - H(Ts) - LE(Ts)
!>
!> The surface temperature and the parameters enter as complex numbers: called with zero
!> imaginary parts they give ordinary values; called with Ts + i s (s ~ 1e-20 K) the imaginary
!> part of G divided by s is dG/dTs to machine precision (the complex-step derivative), which
!> the Newton iteration of the direct solver uses, and with a parameter perturbed the same way
!> it is the derivative with respect to that parameter, which the tangent-linear model
!> (sebcal_tangent) uses. Branches therefore test real parts only.
module sebcal_surface
  use, intrinsic :: ieee_arithmetic, only: ieee_value, ieee_quiet_nan
  use sebcal_const
  implicit none
  private
  public :: surface_balance, qsat, transmissions

  real(dp), parameter :: half_pi = 1.5707963_dp   !< as Noah-MP writes pi/2 in psi_m

contains

  !> Transmitted fractions of shortwave and of the longwave exchange reaching the soil.
  pure subroutine transmissions(ps, forc, canopy, tau_sw, tau_lw)
    complex(dp), intent(in) :: ps(npsurf)
    real(dp), intent(in) :: forc(nforc)
    integer, intent(in) :: canopy
    complex(dp), intent(out) :: tau_sw, tau_lw
    select case (canopy)
    case (canopy_transmission)
      tau_sw = ps(ip_tau_sw)
      tau_lw = ps(ip_tau_lw)
    case (canopy_lai)
      tau_sw = exp(-ps(ip_k_ext)*forc(if_lai))
      tau_lw = tau_sw
    case default
      tau_sw = 1
      tau_lw = 1
    end select
  end subroutine transmissions

  !> Saturation specific humidity [kg kg-1] at temperature t [K] and pressure p [Pa]:
  !> e_s = 611.2 exp(17.67 (t - 273.15)/(t - 29.65)) Pa (Bolton 1980), q_s = 0.622 e_s/(p - 0.378 e_s).
  pure complex(dp) function qsat(t, p)
    complex(dp), intent(in) :: t
    real(dp), intent(in) :: p
    complex(dp) :: es
    es = 611.2_dp*exp(17.67_dp*(t - 273.15_dp)/(t - 29.65_dp))
    qsat = 0.622_dp*es/(p - 0.378_dp*es)
  end function qsat

  !> G(Ts) [W m-2], positive into the soil, and its terms.
  !>
  !> comp(ix_*) holds SWnet, LWnet, LWup, Qh, Qle, G, Qh + Qle [W m-2] (complex, as g).
  !> Qh and Qle are NaN with turbulence = h_eff and an unknown Bowen ratio.
  pure subroutine surface_balance(ts, forc, ps, iopt, rset, theta_top, phi_top, g, comp)
    complex(dp), intent(in) :: ts            !< surface temperature [K]
    real(dp), intent(in) :: forc(nforc)      !< forcing at the level
    complex(dp), intent(in) :: ps(npsurf)    !< surface parameters
    integer, intent(in) :: iopt(nopt)
    real(dp), intent(in) :: rset(nrset)      !< real settings (wind_min [m s-1], sigma [W m-2 K-4])
    real(dp), intent(in) :: theta_top        !< soil moisture of the top node [m3 m-3]
    complex(dp), intent(in) :: phi_top       !< porosity of the top node [m3 m-3]
    complex(dp), intent(out) :: g
    complex(dp), intent(out) :: comp(nflux)
    complex(dp) :: tau_sw, tau_lw, lwabs, eps, beta
    complex(dp) :: emit, swnet, lwnet, hs, le, turb

    call transmissions(ps, forc, iopt(io_canopy), tau_sw, tau_lw)
    eps = ps(ip_eps)
    if (iopt(io_longwave) == lw_kirchhoff) then
      lwabs = eps*forc(if_lw)
    else
      lwabs = forc(if_lw)
    end if
    emit = eps*rset(rs_sigma)*ts**4
    swnet = tau_sw*(forc(if_sw)*(1 - ps(ip_alpha)))
    lwnet = tau_lw*(lwabs - emit)
    if (iopt(io_turbulence) == turb_bulk) then
      call bulk_fluxes(ts, forc, ps, iopt, rset(rs_wind_min), theta_top, phi_top, hs, le)
      turb = hs + le
      comp(ix_qh) = hs
      comp(ix_qle) = le
    else
      turb = ps(ip_heff)*(ts - forc(if_ta))
      beta = ps(ip_beta)
      if (real(beta, dp) > 0) then
        comp(ix_qh) = turb*(beta/(1 + beta))
        comp(ix_qle) = turb/(1 + beta)
      else
        comp(ix_qh) = ieee_value(1.0_dp, ieee_quiet_nan)
        comp(ix_qle) = comp(ix_qh)
      end if
    end if
    g = swnet + lwnet - turb
    comp(ix_swnet) = swnet
    comp(ix_lwnet) = lwnet
    if (iopt(io_longwave) == lw_kirchhoff) then
      comp(ix_lwup) = emit + (1 - eps)*forc(if_lw)
    else
      comp(ix_lwup) = emit
    end if
    comp(ix_qturb) = turb
    comp(ix_qg) = g
  end subroutine surface_balance

  !> Bulk sensible and latent heat [W m-2] (eq. 6-7):
  !>   H = rho c_p (Ts - Ta)/r_a,   LE = rho L_v (q_sat(Ts) - q_a)/(r_a + r_s),
  !>   1/r_a = C_H U,   C_H = kappa^2 / ([ln(z/z0m) - psi_m] [ln(z/z0h) - psi_h]),  z = z_ref - d,
  !> rho = p / (R_d Ta (1 + 0.61 q_a)). With stability = most, psi follows Noah-MP's
  !> ResistanceBareGroundMOST (SFCDIF1): starting neutral, n_most iterations of
  !> zeta = min(z/L, 1), L = -u*^3 T_v rho c_p/(kappa g H), psi_m = psi_h = -5 zeta (stable),
  !> Paulson (1970) functions (unstable), each averaged with the previous iterate and limited
  !> to 0.9 ln(z/z0).
  pure subroutine bulk_fluxes(ts, forc, ps, iopt, wind_min, theta_top, phi_top, hs, le)
    complex(dp), intent(in) :: ts
    real(dp), intent(in) :: forc(nforc)
    complex(dp), intent(in) :: ps(npsurf)
    integer, intent(in) :: iopt(nopt)
    real(dp), intent(in) :: wind_min, theta_top
    complex(dp), intent(in) :: phi_top
    complex(dp), intent(out) :: hs, le
    real(dp) :: u, tv, rho
    complex(dp) :: zl, lm, lh, rs, sat
    complex(dp) :: ch, cm, psim, psih, fm, fh, x, zeta, tmp, ustar, cmfm, chfh, ra
    integer :: k

    u = max(forc(if_wind), wind_min)
    tv = forc(if_ta)*(1 + 0.61_dp*forc(if_qa))
    rho = forc(if_ps)/(r_dry*tv)
    zl = ps(ip_zref) - ps(ip_d0)
    lm = log(zl/ps(ip_z0m))
    lh = log(zl/(ps(ip_z0m)*ps(ip_z0h)))
    if (iopt(io_stability) == stab_most) then
      psim = 0
      psih = 0
      hs = 0
      ustar = 0
      do k = 1, n_most
        if (k > 1) then
          tmp = karman*(gravity/tv)*hs/(rho*cp_air)
          if (abs(real(tmp, dp)) <= 1.0e-6_dp) tmp = 1.0e-6_dp
          zeta = zl/(-ustar**3/tmp)
          if (real(zeta, dp) > 1) zeta = 1
          if (real(zeta, dp) < 0) then
            x = (1 - 16*zeta)**0.25_dp
            fm = 2*log((1 + x)/2) + log((1 + x*x)/2) - 2*atan(x) + half_pi
            fh = 2*log((1 + x*x)/2)
          else
            fm = -5*zeta
            fh = fm
          end if
          psim = 0.5_dp*(psim + fm)
          psih = 0.5_dp*(psih + fh)
        end if
        if (real(psih, dp) > 0.9_dp*real(lh, dp)) psih = 0.9_dp*lh
        if (real(psim, dp) > 0.9_dp*real(lm, dp)) psim = 0.9_dp*lm
        cmfm = lm - psim
        chfh = lh - psih
        if (abs(real(cmfm, dp)) <= 1.0e-6_dp) cmfm = 1.0e-6_dp
        if (abs(real(chfh, dp)) <= 1.0e-6_dp) chfh = 1.0e-6_dp
        cm = karman**2/(cmfm*cmfm)
        ch = karman**2/(cmfm*chfh)
        ustar = u*sqrt(cm)
        hs = rho*cp_air*ch*u*(ts - forc(if_ta))
      end do
    else
      ch = karman**2/(lm*lh)
      hs = rho*cp_air*ch*u*(ts - forc(if_ta))
    end if
    if (iopt(io_latent) == latent_resistance) then
      if (iopt(io_rsurf) == rsurf_moisture) then
        sat = theta_top/phi_top
        if (real(sat, dp) > 1) sat = 1
        if (real(sat, dp) < 0) sat = 0
        rs = exp(ps(ip_rs_a) - ps(ip_rs_b)*sat)
      else
        rs = ps(ip_rs)
      end if
      ra = 1/(ch*u)
      le = rho*lv*(qsat(ts, forc(if_ps)) - forc(if_qa))/(ra + rs)
    else
      le = 0
    end if
  end subroutine bulk_fluxes

end module sebcal_surface

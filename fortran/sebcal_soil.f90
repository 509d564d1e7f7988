!> Soil thermal properties at the nodes and the finite-volume coefficients (docs/theory.md,
!> eq. 8-12). Pure, no I/O.
!>
!> soil_thermal = constant: lambda_i and C_i are parameters of node i's layer.
!> soil_thermal = johansen (Johansen 1975, as Noah-MP SoilThermalProperty and CLM
!> SoilThermalProperties compute it for unfrozen soil), with S = theta/porosity in [0, 1]:
!>
!>   Ke = log10(S) + 1 (S > 0.1), 0 otherwise            Kersten number
!>   lambda_sat = lambda_solids^(1 - porosity) lambda_water^porosity
!>   lambda = lambda_dry + Ke (lambda_sat - lambda_dry)
!>   C = C_dry + theta c_water
!>
!> Interfaces: the conductivity between nodes i-1 and i is the harmonic mean of the two node
!> values (exactly the node value when both are equal), the series conductance of the two half
!> spacings (CLM uses the same rule).
module sebcal_soil
  use sebcal_const
  implicit none
  private
  public :: node_properties, coefficients, node_properties_z, coefficients_z
  public :: liquid_water, frozen_properties, liquid_water_z, frozen_properties_z

contains

  !> Conductivity lam [W m-1 K-1] and heat capacity cv [J m-3 K-1] at every node.
  pure subroutine node_properties(soil_opt, psoil, theta, lam, cv)
    integer, intent(in) :: soil_opt
    real(dp), intent(in) :: psoil(:, 0:)        !< (npsoil, 0:n) soil parameters of each node
    real(dp), intent(in) :: theta(0:)           !< soil moisture [m3 m-3] (johansen only)
    real(dp), intent(out) :: lam(0:), cv(0:)
    integer :: i
    real(dp) :: phi, sat, ke, lsat
    if (soil_opt == soil_johansen) then
      do i = 0, ubound(lam, 1)
        phi = psoil(is_porosity, i)
        sat = min(1.0_dp, max(0.0_dp, theta(i)/phi))
        if (sat > 0.1_dp) then
          ke = log10(sat) + 1
        else
          ke = 0
        end if
        lsat = psoil(is_lambda_solids, i)**(1 - phi)*lambda_water**phi
        lam(i) = psoil(is_lambda_dry, i) + ke*(lsat - psoil(is_lambda_dry, i))
        cv(i) = psoil(is_c_dry, i) + theta(i)*c_water
      end do
    else
      lam = psoil(is_lambda, 0:ubound(lam, 1))
      cv = psoil(is_c, 0:ubound(lam, 1))
    end if
  end subroutine node_properties

  !> Backward-Euler coefficients of every node from node properties (docs/theory.md eq. 8):
  !>
  !>   a_i = dt lam_(i-1/2) / (C_i w_i h_i),  c_i = dt lam_(i+1/2) / (C_i w_i h_(i+1)),
  !>   c_0 = dt lam_(1/2) / (C_0 w_0 h_1),     g_1 = h_1 / lam_(1/2),
  !>
  !> written as (lam/C dt)/(w h) so that a uniform column gives the published r = lambda/C
  !> dt/dx^2 bit for bit.
  pure subroutine coefficients(h, w, dt, lam, cv, a, c, c0, g1)
    real(dp), intent(in) :: h(1:), w(0:), dt, lam(0:), cv(0:)
    real(dp), intent(out) :: a(0:), c(0:), c0, g1
    integer :: i, n
    real(dp) :: lh(size(h))
    n = size(h)
    do i = 1, n
      if (lam(i - 1) == lam(i)) then
        lh(i) = lam(i)
      else
        lh(i) = 2*lam(i - 1)*lam(i)/(lam(i - 1) + lam(i))
      end if
    end do
    a(0) = 0
    c0 = 2*((lh(1)/cv(0)*dt)/(h(1)*h(1)))
    c(0) = c0
    g1 = h(1)/lh(1)
    do i = 1, n - 1
      a(i) = (lh(i)/cv(i)*dt)/(w(i)*h(i))
      c(i) = (lh(i + 1)/cv(i)*dt)/(w(i)*h(i + 1))
    end do
    a(n) = (lh(n)/cv(n)*dt)/(w(n)*h(n))
    c(n) = 0
  end subroutine coefficients

  !> node_properties with complex parameters (the tangent-linear model's complex step). The
  !> same formulas; branches test real parts.
  pure subroutine node_properties_z(soil_opt, psoil, theta, lam, cv)
    integer, intent(in) :: soil_opt
    complex(dp), intent(in) :: psoil(:, 0:)
    real(dp), intent(in) :: theta(0:)
    complex(dp), intent(out) :: lam(0:), cv(0:)
    integer :: i
    complex(dp) :: phi, sat, ke, lsat
    if (soil_opt == soil_johansen) then
      do i = 0, ubound(lam, 1)
        phi = psoil(is_porosity, i)
        sat = theta(i)/phi
        if (real(sat, dp) > 1) sat = 1
        if (real(sat, dp) < 0) sat = 0
        if (real(sat, dp) > 0.1_dp) then
          ke = log(sat)/log(10.0_dp) + 1
        else
          ke = 0
        end if
        lsat = psoil(is_lambda_solids, i)**(1 - phi)*lambda_water**phi
        lam(i) = psoil(is_lambda_dry, i) + ke*(lsat - psoil(is_lambda_dry, i))
        cv(i) = psoil(is_c_dry, i) + theta(i)*c_water
      end do
    else
      lam = psoil(is_lambda, 0:ubound(lam, 1))
      cv = psoil(is_c, 0:ubound(lam, 1))
    end if
  end subroutine node_properties_z

  !> coefficients with complex node properties. The interface conductivity is always the
  !> harmonic mean (equal to the node value when both agree, with the right derivative).
  pure subroutine coefficients_z(h, w, dt, lam, cv, a, c, c0, g1)
    real(dp), intent(in) :: h(1:), w(0:), dt
    complex(dp), intent(in) :: lam(0:), cv(0:)
    complex(dp), intent(out) :: a(0:), c(0:), c0, g1
    integer :: i, n
    complex(dp) :: lh(size(h))
    n = size(h)
    do i = 1, n
      lh(i) = 2*lam(i - 1)*lam(i)/(lam(i - 1) + lam(i))
    end do
    a(0) = 0
    c0 = 2*((lh(1)/cv(0)*dt)/(h(1)*h(1)))
    c(0) = c0
    g1 = h(1)/lh(1)
    do i = 1, n - 1
      a(i) = (lh(i)/cv(i)*dt)/(w(i)*h(i))
      c(i) = (lh(i + 1)/cv(i)*dt)/(w(i)*h(i + 1))
    end do
    a(n) = (lh(n)/cv(n)*dt)/(w(n)*h(n))
    c(n) = 0
  end subroutine coefficients_z

  !> Liquid water wl [m3 m-3] of a node holding total water theta [m3 m-3] at temperature t [K],
  !> and dwl/dT [m3 m-3 K-1] (docs/theory.md eq. 15). Above t_freeze all water is liquid.
  !>
  !>   niu_yang (Niu & Yang 2006, Noah-MP SoilWaterSupercoolNiu06, OptSoilSupercoolWater = 1):
  !>     wl = min(theta, porosity (L_f (T_f - T)/(g T psi_sat))^(-1/b))
  !>   linear: wl = theta max(0, 1 - (T_f - T)/dT_freeze)
  !>
  !> At a kink the derivative of the branch that holds at t is returned (the one-sided
  !> derivative of the side the point belongs to).
  pure subroutine liquid_water(freeze_opt, ps, theta, t, wl, dwl)
    integer, intent(in) :: freeze_opt
    real(dp), intent(in) :: ps(:)           !< (npsoil) the node's soil parameters
    real(dp), intent(in) :: theta, t
    real(dp), intent(out) :: wl, dwl
    real(dp) :: s, sup, frac
    wl = theta
    dwl = 0
    if (t >= t_freeze .or. theta <= 0 .or. freeze_opt == freeze_none) return
    select case (freeze_opt)
    case (freeze_niu_yang)
      s = l_fusion*(t_freeze - t)/(gravity*t*ps(is_psi_sat))
      sup = ps(is_porosity)*s**(-1/ps(is_b_clapp))
      if (sup < theta) then
        wl = sup
        ! d s/dT = -L_f T_f/(g psi_sat T^2)
        dwl = sup/(ps(is_b_clapp)*s)*l_fusion*t_freeze/(gravity*ps(is_psi_sat)*t*t)
      end if
    case (freeze_linear)
      frac = 1 - (t_freeze - t)/ps(is_dt_freeze)
      if (frac > 0) then
        wl = theta*frac
        dwl = theta/ps(is_dt_freeze)
      else
        wl = 0
      end if
    end select
  end subroutine liquid_water

  !> Conductivity and heat capacity of partly frozen soil at total water theta and liquid
  !> water wl (docs/theory.md eq. 16), as Noah-MP SoilThermalProperty and CLM
  !> SoilThermalProperties compute them, for soil_thermal = johansen:
  !>
  !>   frozen (wl < theta): Ke = S; unfrozen: Ke = log10(S) + 1 (S > 0.1), else 0
  !>   lambda_sat = lambda_solids^(1 - porosity) lambda_ice^(porosity - x_u) lambda_water^x_u,
  !>                x_u = porosity wl/theta
  !>   C = C_dry + wl c_water + (theta - wl) c_ice
  !>
  !> For soil_thermal = constant lambda and C are the bulk parameters, ice or not.
  pure subroutine frozen_properties(soil_opt, psoil, theta, wl, lam, cv)
    integer, intent(in) :: soil_opt
    real(dp), intent(in) :: psoil(:, 0:), theta(0:), wl(0:)
    real(dp), intent(out) :: lam(0:), cv(0:)
    integer :: i
    real(dp) :: phi, sat, ke, lsat, xu
    if (soil_opt /= soil_johansen) then
      lam = psoil(is_lambda, 0:ubound(lam, 1))
      cv = psoil(is_c, 0:ubound(lam, 1))
      return
    end if
    call node_properties(soil_opt, psoil, theta, lam, cv)
    do i = 0, ubound(lam, 1)
      if (.not. (wl(i) < theta(i))) cycle
      phi = psoil(is_porosity, i)
      sat = min(1.0_dp, max(0.0_dp, theta(i)/phi))
      ke = sat
      xu = phi*wl(i)/theta(i)
      lsat = psoil(is_lambda_solids, i)**(1 - phi)*lambda_ice**(phi - xu)*lambda_water**xu
      lam(i) = psoil(is_lambda_dry, i) + ke*(lsat - psoil(is_lambda_dry, i))
      cv(i) = psoil(is_c_dry, i) + wl(i)*c_water + (theta(i) - wl(i))*c_ice
    end do
  end subroutine frozen_properties

  !> liquid_water with complex parameters and temperature (the tangent-linear model's complex
  !> step); the branches test real parts. No derivative is returned.
  pure subroutine liquid_water_z(freeze_opt, ps, theta, t, wl)
    integer, intent(in) :: freeze_opt
    complex(dp), intent(in) :: ps(:)
    real(dp), intent(in) :: theta
    complex(dp), intent(in) :: t
    complex(dp), intent(out) :: wl
    complex(dp) :: s, sup, frac
    wl = theta
    if (real(t, dp) >= t_freeze .or. theta <= 0 .or. freeze_opt == freeze_none) return
    select case (freeze_opt)
    case (freeze_niu_yang)
      s = l_fusion*(t_freeze - t)/(gravity*t*ps(is_psi_sat))
      sup = ps(is_porosity)*exp(-log(s)/ps(is_b_clapp))
      if (real(sup, dp) < theta) wl = sup
    case (freeze_linear)
      frac = 1 - (t_freeze - t)/ps(is_dt_freeze)
      if (real(frac, dp) > 0) then
        wl = theta*frac
      else
        wl = 0
      end if
    end select
  end subroutine liquid_water_z

  !> frozen_properties with complex parameters and liquid water.
  pure subroutine frozen_properties_z(soil_opt, psoil, theta, wl, lam, cv)
    integer, intent(in) :: soil_opt
    complex(dp), intent(in) :: psoil(:, 0:), wl(0:)
    real(dp), intent(in) :: theta(0:)
    complex(dp), intent(out) :: lam(0:), cv(0:)
    integer :: i
    complex(dp) :: phi, sat, xu, lsat
    call node_properties_z(soil_opt, psoil, theta, lam, cv)
    if (soil_opt /= soil_johansen) return
    do i = 0, ubound(lam, 1)
      if (.not. (real(wl(i), dp) < theta(i))) cycle
      phi = psoil(is_porosity, i)
      sat = theta(i)/phi
      if (real(sat, dp) > 1) sat = 1
      if (real(sat, dp) < 0) sat = 0
      xu = phi*wl(i)/theta(i)
      lsat = psoil(is_lambda_solids, i)**(1 - phi)*lambda_ice**(phi - xu)*lambda_water**xu
      lam(i) = psoil(is_lambda_dry, i) + sat*(lsat - psoil(is_lambda_dry, i))
      cv(i) = psoil(is_c_dry, i) + wl(i)*c_water + (theta(i) - wl(i))*c_ice
    end do
  end subroutine frozen_properties_z

end module sebcal_soil

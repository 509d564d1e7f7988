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

end module sebcal_soil

!> Kinds, physical constants, option codes, and the slots of the scheme's parameter, option,
!> forcing and flux arrays.
!>
!> Every real is real(dp) (IEEE double). The slots below are the same as in the Python
!> vocabulary (python/sebcal/vocabulary.py); tests/test_vocabulary.py reads this file and
!> checks every one of them. Equation numbers refer to docs/theory.md.
module sebcal_const
  use, intrinsic :: iso_fortran_env, only: real64
  implicit none
  private

  integer, parameter, public :: dp = real64

  ! ---- physical constants (SI)
  real(dp), parameter, public :: sigma_sb = 5.67e-8_dp       !< Stefan-Boltzmann constant, the paper's value [W m-2 K-4]
  real(dp), parameter, public :: karman = 0.40_dp            !< von Karman constant [1]
  real(dp), parameter, public :: gravity = 9.80616_dp        !< gravitational acceleration [m s-2]
  real(dp), parameter, public :: r_dry = 287.04_dp           !< gas constant of dry air [J kg-1 K-1]
  real(dp), parameter, public :: cp_air = 1004.64_dp         !< specific heat of dry air [J kg-1 K-1]
  real(dp), parameter, public :: lv = 2.5104e6_dp            !< latent heat of vaporisation [J kg-1]
  real(dp), parameter, public :: c_water = 4.188e6_dp        !< volumetric heat capacity of water [J m-3 K-1]
  real(dp), parameter, public :: lambda_water = 0.57_dp      !< thermal conductivity of water [W m-1 K-1]
  integer, parameter, public :: n_most = 5                   !< stability iterations (Noah-MP NumIter)
  real(dp), parameter, public :: t_freeze = 273.16_dp        !< freezing point of water (Noah-MP ConstFreezePoint) [K]
  real(dp), parameter, public :: l_fusion = 0.3336e6_dp      !< latent heat of fusion (Noah-MP ConstLatHeatFusion) [J kg-1]
  real(dp), parameter, public :: rho_water = 1000.0_dp       !< density of liquid water (Noah-MP ConstDensityWater) [kg m-3]
  real(dp), parameter, public :: c_ice = 2.094e6_dp          !< volumetric heat capacity of ice (Noah-MP ConstHeatCapacIce) [J m-3 K-1]
  real(dp), parameter, public :: lambda_ice = 2.2_dp         !< thermal conductivity of ice (Noah-MP ConstThermConductIce) [W m-1 K-1]

  ! ---- option slots in iopt(nopt) and their codes
  integer, parameter, public :: nopt = 14
  integer, parameter, public :: io_solver = 1
  integer, parameter, public :: io_longwave = 2
  integer, parameter, public :: io_bottom = 3
  integer, parameter, public :: io_init = 4
  integer, parameter, public :: io_turbulence = 5
  integer, parameter, public :: io_stability = 6
  integer, parameter, public :: io_latent = 7
  integer, parameter, public :: io_rsurf = 8
  integer, parameter, public :: io_canopy = 9
  integer, parameter, public :: io_soil = 10
  integer, parameter, public :: io_top = 11
  integer, parameter, public :: io_max_iter = 12     !< Newton iterations / Jacobi sweeps per step
  integer, parameter, public :: io_spinup_max = 13   !< most days of spin-up
  integer, parameter, public :: io_freezing = 14     !< freeze-thaw of the soil water

  integer, parameter, public :: solver_direct = 1    !< Thomas elimination + safeguarded Newton on the surface row
  integer, parameter, public :: solver_jacobi = 2    !< the published Jacobi sweep iteration
  integer, parameter, public :: lw_paper = 1         !< absorb all of L_down, emit eps sigma Ts^4
  integer, parameter, public :: lw_kirchhoff = 2     !< absorb eps L_down, LWup = eps sigma Ts^4 + (1-eps) L_down
  integer, parameter, public :: bottom_dirichlet = 1 !< T(z_N) = T_b
  integer, parameter, public :: bottom_zero_flux = 2 !< dT/dz = 0 at z_N
  integer, parameter, public :: bottom_series = 3    !< T(z_N) = prescribed series (forcing row if_tbot)
  integer, parameter, public :: init_uniform = 1     !< T = T_b everywhere
  integer, parameter, public :: init_given = 2       !< a given profile
  integer, parameter, public :: init_spinup = 3      !< repeat the first day from T_b until periodic
  integer, parameter, public :: turb_heff = 1        !< h_eff (Ts - Ta), the published model
  integer, parameter, public :: turb_bulk = 2        !< rho c_p (Ts - Ta) / r_a
  integer, parameter, public :: stab_neutral = 1     !< neutral log profile
  integer, parameter, public :: stab_most = 2        !< Monin-Obukhov, Noah-MP ResistanceBareGroundMOST
  integer, parameter, public :: latent_none = 1      !< no latent heat
  integer, parameter, public :: latent_resistance = 2   !< rho L_v (q_sat(Ts) - q_a) / (r_a + r_s)
  integer, parameter, public :: rsurf_constant = 1   !< r_s a parameter
  integer, parameter, public :: rsurf_moisture = 2   !< r_s = exp(a - b theta/porosity) (Sellers 1992)
  integer, parameter, public :: canopy_none = 1
  integer, parameter, public :: canopy_transmission = 2   !< fitted tau_sw, tau_lw
  integer, parameter, public :: canopy_lai = 3       !< tau = exp(-k_ext LAI)
  integer, parameter, public :: soil_constant = 1    !< lambda, C per node
  integer, parameter, public :: soil_johansen = 2    !< lambda(theta), C(theta)
  integer, parameter, public :: freeze_none = 1      !< no phase change (the water stays liquid)
  integer, parameter, public :: freeze_niu_yang = 2  !< supercooled water from the freezing-point depression (Niu & Yang 2006; Noah-MP)
  integer, parameter, public :: freeze_linear = 3    !< liquid fraction linear over a freezing interval dT_freeze below t_freeze
  integer, parameter, public :: top_seb = 1          !< surface energy balance
  integer, parameter, public :: top_temperature = 2  !< T(z_0) = prescribed series (forcing row if_top)
  integer, parameter, public :: top_flux = 3         !< heat flux into z_0 prescribed (forcing row if_top)

  ! ---- real settings rset(nrset)
  integer, parameter, public :: nrset = 5
  integer, parameter, public :: rs_tol = 1           !< solver tolerance [K]
  integer, parameter, public :: rs_theta = 2         !< time weight theta (1 backward Euler, 0.5 Crank-Nicolson) [1]
  integer, parameter, public :: rs_spinup_tol = 3    !< spin-up tolerance [K]
  integer, parameter, public :: rs_wind_min = 4      !< lower limit of the wind speed in r_a [m s-1]
  integer, parameter, public :: rs_sigma = 5         !< Stefan-Boltzmann constant [W m-2 K-4] (default sigma_sb; a host may give its own)

  ! ---- surface parameters psurf(npsurf)
  integer, parameter, public :: npsurf = 15
  integer, parameter, public :: ip_alpha = 1         !< albedo [1]
  integer, parameter, public :: ip_eps = 2           !< emissivity [1]
  integer, parameter, public :: ip_heff = 3          !< h_eff = h (1 + 1/beta) [W m-2 K-1]
  integer, parameter, public :: ip_beta = 4          !< Bowen ratio [1] (<= 0: unknown)
  integer, parameter, public :: ip_tb = 5            !< deep temperature T_b [K]
  integer, parameter, public :: ip_z0m = 6           !< momentum roughness length [m]
  integer, parameter, public :: ip_z0h = 7           !< z0h / z0m [1]
  integer, parameter, public :: ip_d0 = 8            !< displacement height [m]
  integer, parameter, public :: ip_zref = 9          !< measurement height [m]
  integer, parameter, public :: ip_rs = 10           !< surface resistance [s m-1]
  integer, parameter, public :: ip_rs_a = 11         !< a in r_s = exp(a - b theta/porosity) [1]
  integer, parameter, public :: ip_rs_b = 12         !< b [1]
  integer, parameter, public :: ip_tau_sw = 13       !< shortwave transmission [1]
  integer, parameter, public :: ip_tau_lw = 14       !< longwave transmission [1]
  integer, parameter, public :: ip_k_ext = 15        !< extinction coefficient [1]

  ! ---- soil parameters psoil(npsoil, nodes)
  integer, parameter, public :: npsoil = 9
  integer, parameter, public :: is_lambda = 1        !< conductivity lambda [W m-1 K-1]
  integer, parameter, public :: is_c = 2             !< heat capacity C [J m-3 K-1]
  integer, parameter, public :: is_porosity = 3      !< porosity [m3 m-3]
  integer, parameter, public :: is_lambda_dry = 4    !< dry conductivity [W m-1 K-1]
  integer, parameter, public :: is_lambda_solids = 5 !< solids conductivity [W m-1 K-1]
  integer, parameter, public :: is_c_dry = 6         !< dry heat capacity [J m-3 K-1]
  integer, parameter, public :: is_psi_sat = 7       !< saturated matric potential, magnitude (Noah-MP PSISAT) [m]
  integer, parameter, public :: is_b_clapp = 8       !< Clapp-Hornberger exponent b (Noah-MP BEXP, CLM bsw) [1]
  integer, parameter, public :: is_dt_freeze = 9     !< width of the linear freezing interval [K]

  ! ---- forcing rows forc(nforc, levels), all at the level's time
  integer, parameter, public :: nforc = 9
  integer, parameter, public :: if_sw = 1            !< K_down [W m-2]
  integer, parameter, public :: if_lw = 2            !< L_down [W m-2]
  integer, parameter, public :: if_ta = 3            !< air temperature [K]
  integer, parameter, public :: if_wind = 4          !< wind speed [m s-1]
  integer, parameter, public :: if_ps = 5            !< surface pressure [Pa]
  integer, parameter, public :: if_qa = 6            !< specific humidity [kg kg-1]
  integer, parameter, public :: if_lai = 7           !< leaf area index [m2 m-2]
  integer, parameter, public :: if_top = 8           !< top temperature [K] or top heat flux [W m-2]
  integer, parameter, public :: if_tbot = 9          !< bottom temperature [K]

  ! ---- surface fluxes flux(nflux), all [W m-2]
  integer, parameter, public :: nflux = 7
  integer, parameter, public :: ix_swnet = 1    !< net shortwave absorbed by the soil surface, down
  integer, parameter, public :: ix_lwnet = 2    !< net longwave of the soil surface, down
  integer, parameter, public :: ix_lwup = 3     !< outgoing longwave (emitted + reflected), up
  integer, parameter, public :: ix_qh = 4       !< sensible heat, up (NaN when unknown)
  integer, parameter, public :: ix_qle = 5      !< latent heat, up (NaN when unknown)
  integer, parameter, public :: ix_qg = 6       !< ground heat flux into the top node, down
  integer, parameter, public :: ix_qturb = 7    !< total turbulent flux Qh + Qle, up

  ! ---- error codes (errflg); 0 means success
  integer, parameter, public :: err_grid = 1        !< invalid grid
  integer, parameter, public :: err_param = 2       !< parameter outside its physical bounds
  integer, parameter, public :: err_option = 3      !< unknown option code, bad setting or array size
  integer, parameter, public :: err_forcing = 4     !< non-finite or non-physical forcing
  integer, parameter, public :: err_converge = 5    !< solver did not converge
  integer, parameter, public :: err_namelist = 6    !< namelist file missing or malformed
  integer, parameter, public :: err_state = 7       !< non-finite or non-physical state
  integer, parameter, public :: err_spinup = 8      !< spin-up did not become periodic

  integer, parameter, public :: errmsg_len = 512    !< length of errmsg arguments
  integer, parameter, public :: max_nodes = 10001   !< largest grid a namelist can give
  integer, parameter, public :: max_layers = 100    !< most soil layers a namelist can give
end module sebcal_const

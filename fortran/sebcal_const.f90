!> Kinds, physical constants and the integer codes of the sebcal scheme's options.
!>
!> Every real is real(dp) (IEEE double). The codes below are the values the scheme takes for
!> its options and the index of each surface flux in the flux output arrays.
module sebcal_const
  use, intrinsic :: iso_fortran_env, only: real64
  implicit none
  private

  integer, parameter, public :: dp = real64

  real(dp), parameter, public :: sigma_sb = 5.67e-8_dp   !< Stefan-Boltzmann constant, as in the paper [W m-2 K-4]

  ! solver for one implicit step
  integer, parameter, public :: solver_direct = 1   !< Thomas elimination + scalar Newton on Ts^4
  integer, parameter, public :: solver_jacobi = 2   !< the published Jacobi sweep iteration
  ! longwave treatment
  integer, parameter, public :: lw_paper = 1        !< absorb all of L_down, emit eps sigma Ts^4
  integer, parameter, public :: lw_kirchhoff = 2    !< absorb eps L_down, LWup = eps sigma Ts^4 + (1-eps) L_down
  ! bottom boundary
  integer, parameter, public :: bottom_dirichlet = 1   !< T(z_N) = T_b
  integer, parameter, public :: bottom_zero_flux = 2   !< dT/dz = 0 at z_N
  ! initial state
  integer, parameter, public :: init_uniform = 1    !< T = T_b everywhere
  integer, parameter, public :: init_given = 2      !< a given profile
  integer, parameter, public :: init_spinup = 3     !< repeat the first day from T_b until periodic

  ! index of each surface flux in flux arrays, all [W m-2]
  integer, parameter, public :: nflux = 7
  integer, parameter, public :: ix_swnet = 1    !< net shortwave, down
  integer, parameter, public :: ix_lwdown = 2   !< incoming longwave, down
  integer, parameter, public :: ix_lwup = 3     !< outgoing longwave (emitted + reflected), up
  integer, parameter, public :: ix_qh = 4       !< sensible heat, up (NaN when the Bowen ratio is unknown)
  integer, parameter, public :: ix_qle = 5      !< latent heat, up (NaN when the Bowen ratio is unknown)
  integer, parameter, public :: ix_qg = 6       !< ground heat flux into the soil at z = 0, down
  integer, parameter, public :: ix_qturb = 7    !< total turbulent flux Qh + Qle, up

  ! error codes (errflg); 0 means success
  integer, parameter, public :: err_grid = 1        !< invalid grid
  integer, parameter, public :: err_param = 2       !< parameter outside its physical bounds
  integer, parameter, public :: err_option = 3      !< unknown option code or bad solver setting
  integer, parameter, public :: err_forcing = 4     !< non-finite or non-physical forcing
  integer, parameter, public :: err_converge = 5    !< solver did not converge
  integer, parameter, public :: err_namelist = 6    !< namelist file missing or malformed
  integer, parameter, public :: err_state = 7       !< scheme not initialised / non-finite state
  integer, parameter, public :: err_spinup = 8      !< spin-up did not become periodic

  integer, parameter, public :: errmsg_len = 512    !< length of errmsg arguments
  integer, parameter, public :: max_nodes = 10001   !< largest grid a namelist can give
end module sebcal_const

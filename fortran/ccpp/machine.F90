!> Kinds for the CCPP interface of sebcal when it is built outside a CCPP host. A host that
!> builds sebcal_ccpp with its own physics uses its own `machine` module instead (ccpp-physics:
!> physics/hooks/machine.F), which defines kind_phys the same way.
module machine
  use, intrinsic :: iso_fortran_env, only: real64
  implicit none
  private
  integer, parameter, public :: kind_phys = real64
end module machine

! mpisnap for Fortran: `use mpisnap` (Fortran 2008 with assumed-rank arrays, over the C API of
! mpisnap/mpisnap.h; part of libmpisnap).
!
!   type(mpisnap_session) :: snap
!   call mpisnap_init(snap)                       ! collective over MPI_COMM_WORLD (or comm=...)
!   call mpisnap_protect(snap, "u", u)            ! any rank 0..15 of real(4|8), integer(4|8),
!   call mpisnap_protect(snap, "iter", iter)      ! logical, complex(4|8), by name
!   call mpisnap_restore(snap, resumed)           ! fills what was protected from the newest checkpoint
!   do while (...)
!     ...
!     call mpisnap_checkpoint_point(snap)         ! a safe point
!   end do
!   call mpisnap_finalize(snap)
!
! The file keeps Fortran's order: an array a(n1, n2, ..., nk) is stored with its dimensions reversed,
! (nk, ..., n2, n1) -- the same bytes, and what h5py and HDF5's C API show (as HDF5's Fortran API
! writes it). A default logical is stored as a 32-bit integer (0 or 1, gfortran's .false./.true.).
! Protect a whole array, or a contiguous part of one: a non-contiguous section is refused (its copy
! would vanish after the call). An array that is reallocated (or moves) is protected again with the
! same name. Before mpisnap_restore, mpisnap_stored_shape gives the extents a name has in the
! checkpoint, to allocate it. Every routine has an optional last argument ierr: the error code
! (MPISNAP_SUCCESS or MPISNAP_ERR_*; mpisnap_last_error() says what); without it an error stops the
! program with the message. comm is a `use mpi` handle; with `use mpi_f08` pass comm%MPI_VAL.
module mpisnap
  use, intrinsic :: iso_c_binding
  implicit none
  private

  type, public :: mpisnap_session
    private
    type(c_ptr) :: handle = c_null_ptr
  end type mpisnap_session

  integer, parameter, public :: MPISNAP_SUCCESS = 0, MPISNAP_ERR_ARG = 1, MPISNAP_ERR_NAME = 2, &
                                MPISNAP_ERR_ORDER = 3, MPISNAP_ERR_SESSION = 4, MPISNAP_ERR_MEMORY = 5
  integer, parameter, public :: MPISNAP_ERRORS_RETURN = 1
  integer, parameter, public :: MPISNAP_MAX_RANK = 32

  ! mpisnap_type of the C API
  integer(c_int), parameter :: T_INT32 = 5, T_INT64 = 7, T_FLOAT = 9, T_DOUBLE = 10, &
                               T_COMPLEX_FLOAT = 13, T_COMPLEX_DOUBLE = 14
  integer(c_int), parameter :: COLUMN_MAJOR = 1

  ! An error found here, not by the C API (its message is this thread's until the next call).
  character(len=:), allocatable :: local_error
  logical :: local_failed = .false.
  !$omp threadprivate(local_error, local_failed)

  public :: mpisnap_init, mpisnap_finalize, mpisnap_protect, mpisnap_protect_global, mpisnap_unprotect, &
            mpisnap_will_restore, mpisnap_stored_shape, mpisnap_restore, mpisnap_resume_info, &
            mpisnap_checkpoint_point, mpisnap_should_exit, mpisnap_request_checkpoint, mpisnap_flush, &
            mpisnap_last_error, mpisnap_error_string

  interface mpisnap_protect
    module procedure protect_real4, protect_real8, protect_int4, protect_int8, protect_logical, &
                     protect_complex4, protect_complex8
  end interface mpisnap_protect

  interface
    integer(c_int) function c_init(comm, world, flags, s) bind(C, name="mpisnap_init_fortran")
      import :: c_int, c_ptr
      integer(c_int), value :: comm, world, flags
      type(c_ptr), intent(out) :: s
    end function
    integer(c_int) function c_finalize(s) bind(C, name="mpisnap_finalize")
      import :: c_int, c_ptr
      type(c_ptr), intent(inout) :: s
    end function
    integer(c_int) function c_protect_scalar(s, name, data, type) bind(C, name="mpisnap_protect_scalar")
      import :: c_int, c_ptr, c_char
      type(c_ptr), value :: s, data
      character(kind=c_char), intent(in) :: name(*)
      integer(c_int), value :: type
    end function
    integer(c_int) function c_protect_array(s, name, data, type, rank, extents, order) &
        bind(C, name="mpisnap_protect_array")
      import :: c_int, c_ptr, c_char, c_int64_t
      type(c_ptr), value :: s, data
      character(kind=c_char), intent(in) :: name(*)
      integer(c_int), value :: type, rank, order
      integer(c_int64_t), intent(in) :: extents(*)
    end function
    integer(c_int) function c_protect_global(s, name, offset, extent) bind(C, name="mpisnap_protect_global")
      import :: c_int, c_ptr, c_char, c_int64_t
      type(c_ptr), value :: s
      character(kind=c_char), intent(in) :: name(*)
      integer(c_int64_t), intent(in) :: offset(*), extent(*)
    end function
    integer(c_int) function c_unprotect(s, name) bind(C, name="mpisnap_unprotect")
      import :: c_int, c_ptr, c_char
      type(c_ptr), value :: s
      character(kind=c_char), intent(in) :: name(*)
    end function
    ! (will_restore, restore, should_exit: a session and an int flag)
    integer(c_int) function c_will_restore(s, flag) bind(C, name="mpisnap_will_restore")
      import :: c_int, c_ptr
      type(c_ptr), value :: s
      integer(c_int), intent(out) :: flag
    end function
    integer(c_int) function c_restore(s, flag) bind(C, name="mpisnap_restore")
      import :: c_int, c_ptr
      type(c_ptr), value :: s
      integer(c_int), intent(out) :: flag
    end function
    integer(c_int) function c_should_exit(s, flag) bind(C, name="mpisnap_should_exit")
      import :: c_int, c_ptr
      type(c_ptr), value :: s
      integer(c_int), intent(out) :: flag
    end function
    integer(c_int) function c_stored_shape(s, name, order, rank, extents) bind(C, name="mpisnap_stored_shape")
      import :: c_int, c_ptr, c_char, c_int64_t
      type(c_ptr), value :: s
      character(kind=c_char), intent(in) :: name(*)
      integer(c_int), value :: order
      integer(c_int), intent(out) :: rank
      integer(c_int64_t), intent(out) :: extents(*)
    end function
    integer(c_int) function c_resume_info(s, id, sp) bind(C, name="mpisnap_resume_info")
      import :: c_int, c_ptr, c_int64_t
      type(c_ptr), value :: s
      integer(c_int64_t), intent(out) :: id, sp
    end function
    ! (checkpoint_point, request_checkpoint, flush: a session)
    integer(c_int) function c_checkpoint_point(s) bind(C, name="mpisnap_checkpoint_point")
      import :: c_int, c_ptr
      type(c_ptr), value :: s
    end function
    integer(c_int) function c_request_checkpoint(s) bind(C, name="mpisnap_request_checkpoint")
      import :: c_int, c_ptr
      type(c_ptr), value :: s
    end function
    integer(c_int) function c_flush(s) bind(C, name="mpisnap_flush")
      import :: c_int, c_ptr
      type(c_ptr), value :: s
    end function
    type(c_ptr) function c_last_error() bind(C, name="mpisnap_last_error")
      import :: c_ptr
    end function
    type(c_ptr) function c_error_string(code) bind(C, name="mpisnap_error_string")
      import :: c_ptr, c_int
      integer(c_int), value :: code
    end function
    integer(c_size_t) function c_strlen(p) bind(C, name="strlen")
      import :: c_size_t, c_ptr
      type(c_ptr), value :: p
    end function
  end interface

contains

  ! ---- errors

  function c_string(p) result(s)
    type(c_ptr), intent(in) :: p
    character(len=:), allocatable :: s
    character(kind=c_char), pointer :: chars(:)
    integer :: i, n
    if (.not. c_associated(p)) then
      s = ""
      return
    end if
    n = int(c_strlen(p))
    call c_f_pointer(p, chars, [n])
    allocate(character(len=n) :: s)
    do i = 1, n
      s(i:i) = chars(i)
    end do
  end function c_string

  !> The calling thread's last error message ("" if none).
  function mpisnap_last_error() result(s)
    character(len=:), allocatable :: s
    if (local_failed) then
      s = local_error
    else
      s = c_string(c_last_error())
    end if
  end function mpisnap_last_error

  !> A fixed description of an error code.
  function mpisnap_error_string(code) result(s)
    integer, intent(in) :: code
    character(len=:), allocatable :: s
    s = c_string(c_error_string(int(code, c_int)))
  end function mpisnap_error_string

  subroutine finish(rc, ierr)
    integer(c_int), intent(in) :: rc
    integer, intent(out), optional :: ierr
    local_failed = .false.
    if (present(ierr)) then
      ierr = int(rc)
    else if (rc /= MPISNAP_SUCCESS) then
      error stop mpisnap_last_error()
    end if
  end subroutine finish

  function cname(name) result(c)
    character(len=*), intent(in) :: name
    character(kind=c_char, len=:), allocatable :: c
    c = trim(name) // c_null_char
  end function cname

  ! ---- the session

  !> Collective: starts the library and finds the newest checkpoint that verifies on every rank.
  !> comm: a `use mpi` communicator (MPI_COMM_WORLD when absent; mpi_f08: comm%MPI_VAL).
  !> flags: MPISNAP_ERRORS_RETURN makes errors of the checkpoint machinery codes, not the end of the job.
  subroutine mpisnap_init(s, comm, flags, ierr)
    type(mpisnap_session), intent(inout) :: s
    integer, intent(in), optional :: comm, flags
    integer, intent(out), optional :: ierr
    integer(c_int) :: c, world, f
    f = 0
    if (present(flags)) f = int(flags, c_int)
    c = 0
    world = 1
    if (present(comm)) then
      c = int(comm, c_int)
      world = 0
    end if
    call finish(c_init(c, world, f, s%handle), ierr)
  end subroutine mpisnap_init

  !> Frees the handle (before or after MPI_Finalize).
  subroutine mpisnap_finalize(s, ierr)
    type(mpisnap_session), intent(inout) :: s
    integer, intent(out), optional :: ierr
    call finish(c_finalize(s%handle), ierr)
  end subroutine mpisnap_finalize

  ! ---- protecting arrays (one routine per element type; any rank)

  ! Every element type's mpisnap_protect comes here with the type's code.
  subroutine protect_any(s, name, a, type, ierr)
    type(mpisnap_session), intent(in) :: s
    character(len=*), intent(in) :: name
    type(*), intent(inout), target :: a(..)
    integer(c_int), intent(in) :: type
    integer, intent(out), optional :: ierr
    type(c_ptr) :: data
    if (.not. is_contiguous(a)) then
      local_error = "mpisnap: mpisnap_protect: '" // trim(name) // "' is not contiguous (a section with strides): " // &
                    "protect the whole array (a copy made for the call would be gone after it)"
      local_failed = .true.
      if (.not. present(ierr)) error stop local_error
      ierr = MPISNAP_ERR_ARG
      return
    end if
    data = c_null_ptr
    if (size(a) > 0) data = c_loc(a)
    if (rank(a) == 0) then
      call finish(c_protect_scalar(s%handle, cname(name), data, type), ierr)
    else
      call finish(c_protect_array(s%handle, cname(name), data, type, int(rank(a), c_int), shape(a, kind=c_int64_t), &
                                  COLUMN_MAJOR), ierr)
    end if
  end subroutine protect_any

  subroutine protect_real4(s, name, a, ierr)
    type(mpisnap_session), intent(in) :: s
    character(len=*), intent(in) :: name
    real(c_float), intent(inout), target :: a(..)
    integer, intent(out), optional :: ierr
    call protect_any(s, name, a, T_FLOAT, ierr)
  end subroutine protect_real4

  subroutine protect_real8(s, name, a, ierr)
    type(mpisnap_session), intent(in) :: s
    character(len=*), intent(in) :: name
    real(c_double), intent(inout), target :: a(..)
    integer, intent(out), optional :: ierr
    call protect_any(s, name, a, T_DOUBLE, ierr)
  end subroutine protect_real8

  subroutine protect_int4(s, name, a, ierr)
    type(mpisnap_session), intent(in) :: s
    character(len=*), intent(in) :: name
    integer(c_int32_t), intent(inout), target :: a(..)
    integer, intent(out), optional :: ierr
    call protect_any(s, name, a, T_INT32, ierr)
  end subroutine protect_int4

  subroutine protect_int8(s, name, a, ierr)
    type(mpisnap_session), intent(in) :: s
    character(len=*), intent(in) :: name
    integer(c_int64_t), intent(inout), target :: a(..)
    integer, intent(out), optional :: ierr
    call protect_any(s, name, a, T_INT64, ierr)
  end subroutine protect_int8

  subroutine protect_logical(s, name, a, ierr)
    type(mpisnap_session), intent(in) :: s
    character(len=*), intent(in) :: name
    logical, intent(inout), target :: a(..)
    integer, intent(out), optional :: ierr
    call protect_any(s, name, a, T_INT32, ierr)
  end subroutine protect_logical

  subroutine protect_complex4(s, name, a, ierr)
    type(mpisnap_session), intent(in) :: s
    character(len=*), intent(in) :: name
    complex(c_float_complex), intent(inout), target :: a(..)
    integer, intent(out), optional :: ierr
    call protect_any(s, name, a, T_COMPLEX_FLOAT, ierr)
  end subroutine protect_complex4

  subroutine protect_complex8(s, name, a, ierr)
    type(mpisnap_session), intent(in) :: s
    character(len=*), intent(in) :: name
    complex(c_double_complex), intent(inout), target :: a(..)
    integer, intent(out), optional :: ierr
    call protect_any(s, name, a, T_COMPLEX_DOUBLE, ierr)
  end subroutine protect_complex8

  !> Where this rank's block lies in a global array: offset and extent per dimension, in Fortran's order
  !> (0-based offsets). Stored reversed, as the array's dimensions are.
  subroutine mpisnap_protect_global(s, name, offset, extent, ierr)
    type(mpisnap_session), intent(in) :: s
    character(len=*), intent(in) :: name
    integer(c_int64_t), intent(in) :: offset(:), extent(:)
    integer, intent(out), optional :: ierr
    call finish(c_protect_global(s%handle, cname(name), offset(size(offset):1:-1), extent(size(extent):1:-1)), ierr)
  end subroutine mpisnap_protect_global

  !> No longer part of the state.
  subroutine mpisnap_unprotect(s, name, ierr)
    type(mpisnap_session), intent(in) :: s
    character(len=*), intent(in) :: name
    integer, intent(out), optional :: ierr
    call finish(c_unprotect(s%handle, cname(name)), ierr)
  end subroutine mpisnap_unprotect

  ! ---- restoring

  !> Whether a checkpoint is about to be restored (before mpisnap_restore).
  subroutine mpisnap_will_restore(s, flag, ierr)
    type(mpisnap_session), intent(in) :: s
    logical, intent(out) :: flag
    integer, intent(out), optional :: ierr
    integer(c_int) :: f
    f = 0
    call finish(c_will_restore(s%handle, f), ierr)
    flag = f /= 0
  end subroutine mpisnap_will_restore

  !> Before mpisnap_restore: the rank and extents (in Fortran's order) `name` has in that checkpoint.
  subroutine mpisnap_stored_shape(s, name, rank, extents, ierr)
    type(mpisnap_session), intent(in) :: s
    character(len=*), intent(in) :: name
    integer, intent(out) :: rank
    integer(c_int64_t), intent(out) :: extents(MPISNAP_MAX_RANK)
    integer, intent(out), optional :: ierr
    integer(c_int) :: r
    r = 0
    extents = 0
    call finish(c_stored_shape(s%handle, cname(name), COLUMN_MAJOR, r, extents), ierr)
    rank = int(r)
  end subroutine mpisnap_stored_shape

  !> Collective: fills every protected array from the checkpoint found, if any (resumed = .true.).
  subroutine mpisnap_restore(s, resumed, ierr)
    type(mpisnap_session), intent(in) :: s
    logical, intent(out) :: resumed
    integer, intent(out), optional :: ierr
    integer(c_int) :: f
    f = 0
    call finish(c_restore(s%handle, f), ierr)
    resumed = f /= 0
  end subroutine mpisnap_restore

  !> The checkpoint restored and the safe points passed when it was taken (0 and 0 when not resumed).
  subroutine mpisnap_resume_info(s, checkpoint_id, safe_point, ierr)
    type(mpisnap_session), intent(in) :: s
    integer(c_int64_t), intent(out) :: checkpoint_id, safe_point
    integer, intent(out), optional :: ierr
    call finish(c_resume_info(s%handle, checkpoint_id, safe_point), ierr)
  end subroutine mpisnap_resume_info

  ! ---- the loop

  !> A safe point: the protected arrays go into a snapshot when one is due.
  subroutine mpisnap_checkpoint_point(s, ierr)
    type(mpisnap_session), intent(in) :: s
    integer, intent(out), optional :: ierr
    call finish(c_checkpoint_point(s%handle), ierr)
  end subroutine mpisnap_checkpoint_point

  !> .true. once a checkpoint asked for by SIGTERM (or MPISNAP_EXIT_SIGNAL) committed: leave the loop.
  subroutine mpisnap_should_exit(s, flag, ierr)
    type(mpisnap_session), intent(in) :: s
    logical, intent(out) :: flag
    integer, intent(out), optional :: ierr
    integer(c_int) :: f
    f = 0
    call finish(c_should_exit(s%handle, f), ierr)
    flag = f /= 0
  end subroutine mpisnap_should_exit

  !> Asks for a checkpoint as soon as possible (any rank).
  subroutine mpisnap_request_checkpoint(s, ierr)
    type(mpisnap_session), intent(in) :: s
    integer, intent(out), optional :: ierr
    call finish(c_request_checkpoint(s%handle), ierr)
  end subroutine mpisnap_request_checkpoint

  !> Collective: returns once every checkpoint taken so far is committed.
  subroutine mpisnap_flush(s, ierr)
    type(mpisnap_session), intent(in) :: s
    integer, intent(out), optional :: ierr
    call finish(c_flush(s%handle), ierr)
  end subroutine mpisnap_flush

end module mpisnap

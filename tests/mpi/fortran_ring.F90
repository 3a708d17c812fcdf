! A Fortran program whose messages cross every cut, for kill/restart (tests/e2e): built twice, with
! `use mpi` and with `use mpi_f08` (-DUSE_F08), so that both of MPI's Fortran interfaces are shown to
! reach the library (interpose/fortran.cpp) on both MPIs. If one call bypassed it, a message sent before
! a checkpoint and received after it would be lost at restart (the ring would hang) or a request
! would complete behind the library's back.
!
! Each step every rank receives the token its left neighbour sent at the end of the previous step --
! so at every safe point one message per ring channel is in flight -- by a rotating choice of MPI_Recv,
! MPI_Iprobe + MPI_Recv, MPI_Irecv + MPI_Waitany, MPI_Mprobe + MPI_Mrecv, and MPI_Irecv +
! MPI_Testall; every fourth step an MPI_Sendrecv runs the other way, every fifth an MPI_Allreduce (in place),
! every seventh a communicator is split, used and freed. Each status is checked (source, tag, count),
! Waitany's index too. The state (a scalar, 1-D, 2-D and 3-D arrays of every type the module takes)
! is protected with `use mpisnap` and restored; RESULT prints a hash of it.
!
! Options: --steps N, --work-us microseconds per step.
#ifdef USE_F08
#define MPI_MODULE mpi_f08
#define COMM_T type(MPI_Comm)
#define REQUEST_T type(MPI_Request)
#define STATUS_T type(MPI_Status)
#define STATUSES_T(n) type(MPI_Status) :: sts(n)
#define STATUS_AT(a, i) a(i)
#define MESSAGE_T type(MPI_Message)
#define SOURCE_OF(s) s%MPI_SOURCE
#define TAG_OF(s) s%MPI_TAG
#define REQUEST_IS_NULL(r) (r == MPI_REQUEST_NULL)
#define VARIANT "f08"
#else
#define MPI_MODULE mpi
#define COMM_T integer
#define REQUEST_T integer
#define STATUS_T integer, dimension(MPI_STATUS_SIZE)
#define STATUSES_T(n) integer :: sts(MPI_STATUS_SIZE, n)
#define STATUS_AT(a, i) a(:, i)
#define MESSAGE_T integer
#define SOURCE_OF(s) s(MPI_SOURCE)
#define TAG_OF(s) s(MPI_TAG)
#define REQUEST_IS_NULL(r) (r == MPI_REQUEST_NULL)
#define VARIANT "mpi"
#endif
program fortran_ring
  use, intrinsic :: iso_c_binding
  use, intrinsic :: iso_fortran_env, only: int8, int32, int64, output_unit, error_unit
  use MPI_MODULE
  use mpisnap
  implicit none

  interface
    integer(c_int) function usleep(us) bind(C, name="usleep")
      import :: c_int
      integer(c_int), value :: us
    end function
  end interface

  integer(int64), target :: step
  real(c_double), target :: acc(4)
  integer(int64), target :: hist(3, 2)
  integer(int32), target :: cube(2, 2, 2)
  logical, target :: flags(5)
  complex(c_double_complex), target :: z(2)
  real(c_float), target :: f4(3)
  complex(c_float_complex), target :: c4
  integer(int64) :: steps = 200, work_us = 0, k
  integer :: rank, nranks, left, right, ierr, idx, cnt, argi, rc, i
  real(c_double) :: token(2), back(2), other(2), sum
  REQUEST_T :: reqs(2), one
  STATUS_T :: st
  STATUSES_T(2)
  MESSAGE_T :: msg
  COMM_T :: half
  logical :: resumed, flag
  type(mpisnap_session) :: snap
  character(len=32) :: arg, val
  integer(int64), allocatable :: hashes(:)
  integer(int64) :: h

  call MPI_Init(ierr)
  argi = 1
  do while (argi + 1 <= command_argument_count())
    call get_command_argument(argi, arg)
    call get_command_argument(argi + 1, val)
    select case (trim(arg))
    case ("--steps")
      read (val, *) steps
    case ("--work-us")
      read (val, *) work_us
    case default
      call fail("unknown option " // trim(arg))
    end select
    argi = argi + 2
  end do
  call MPI_Comm_rank(MPI_COMM_WORLD, rank, ierr)
  call MPI_Comm_size(MPI_COMM_WORLD, nranks, ierr)
  right = mod(rank + 1, nranks)
  left = mod(rank - 1 + nranks, nranks)

  step = 0
  acc = [(real(rank * 10 + i, c_double), i = 1, 4)]
  hist = 0
  cube = rank
  flags = .false.
  z = (0.0_c_double, 1.0_c_double)
  f4 = 0.5_c_float
  c4 = (1.0_c_float, -1.0_c_float)
  call mpisnap_init(snap)
  call mpisnap_protect(snap, "step", step)
  call mpisnap_protect(snap, "acc", acc)
  call mpisnap_protect(snap, "hist", hist)
  call mpisnap_protect(snap, "cube", cube)
  call mpisnap_protect(snap, "flags", flags)
  call mpisnap_protect(snap, "z", z)
  call mpisnap_protect(snap, "f4", f4)
  call mpisnap_protect(snap, "c4", c4)
  ! A strided section is refused (with ierr: a code and the message; nothing protected).
  call mpisnap_protect(snap, "strided", hist(1, :), ierr)
  if (ierr /= MPISNAP_ERR_ARG .or. index(mpisnap_last_error(), "not contiguous") == 0) &
    call fail("a strided section was not refused: " // mpisnap_last_error())
  call mpisnap_restore(snap, resumed)
  if (resumed .and. rank == 0) then
    write (output_unit, '(a, i0)') "resumed from a checkpoint at step ", step
    flush (output_unit)
  end if
  ! The first token (a restored run's is in flight: the library delivers it again).
  if (.not. resumed) call send_token(-1_int64)

  do while (step < steps)
    k = step
    select case (mod(k, 5_int64))
    case (0)
      call MPI_Recv(token, 2, MPI_DOUBLE_PRECISION, left, MPI_ANY_TAG, MPI_COMM_WORLD, st, ierr)
      call check_status(st, k)
    case (1)
      flag = .false.
      do while (.not. flag)
        call MPI_Iprobe(MPI_ANY_SOURCE, tag_of_step(k - 1), MPI_COMM_WORLD, flag, st, ierr)
      end do
      if (SOURCE_OF(st) /= left) call fail("Iprobe: wrong source")
      call MPI_Recv(token, 2, MPI_DOUBLE_PRECISION, SOURCE_OF(st), TAG_OF(st), MPI_COMM_WORLD, st, ierr)
      call check_status(st, k)
    case (2)
      reqs(1) = MPI_REQUEST_NULL
      call MPI_Irecv(token, 2, MPI_DOUBLE_PRECISION, left, tag_of_step(k - 1), MPI_COMM_WORLD, reqs(2), ierr)
      call MPI_Waitany(2, reqs, idx, st, ierr)
      if (idx /= 2) call fail("Waitany: index is not 2 (Fortran counts from 1)")
      if (.not. REQUEST_IS_NULL(reqs(2))) call fail("Waitany: the completed request is not MPI_REQUEST_NULL")
      call check_status(st, k)
    case (3)
      call MPI_Mprobe(left, MPI_ANY_TAG, MPI_COMM_WORLD, msg, st, ierr)
      call MPI_Mrecv(token, 2, MPI_DOUBLE_PRECISION, msg, st, ierr)
      call check_status(st, k)
    case default
      call MPI_Irecv(token, 2, MPI_DOUBLE_PRECISION, left, MPI_ANY_TAG, MPI_COMM_WORLD, reqs(1), ierr)
      call MPI_Irecv(other, 0, MPI_DOUBLE_PRECISION, MPI_PROC_NULL, 0, MPI_COMM_WORLD, reqs(2), ierr)
      flag = .false.
      do while (.not. flag)
        call MPI_Testall(2, reqs, flag, sts, ierr)
      end do
      call check_status(STATUS_AT(sts, 1), k)
    end select
    acc(mod(k, 4_int64) + 1) = acc(mod(k, 4_int64) + 1) * 0.5_c_double + token(1) + real(rank, c_double)
    hist(mod(k, 3_int64) + 1, 1) = hist(mod(k, 3_int64) + 1, 1) + int(token(2), int64)
    hist(mod(k, 3_int64) + 1, 2) = ieor(hist(mod(k, 3_int64) + 1, 2), k * 31 + rank)
    cube(mod(k, 2_int64) + 1, 1, 2) = cube(mod(k, 2_int64) + 1, 1, 2) + 1
    flags(mod(k, 5_int64) + 1) = .not. flags(mod(k, 5_int64) + 1)
    z(1) = z(1) * (0.5_c_double, 0.25_c_double) + cmplx(token(1), 0.0_c_double, c_double_complex)
    f4(mod(k, 3_int64) + 1) = f4(mod(k, 3_int64) + 1) + 1.0_c_float
    c4 = c4 * (0.5_c_float, 0.5_c_float)

    if (mod(k, 4_int64) == 3) then  ! the other way round, blocking both ways
      back = [acc(1), real(k, c_double)]
      call MPI_Sendrecv(back, 2, MPI_DOUBLE_PRECISION, left, 50, other, 2, MPI_DOUBLE_PRECISION, right, 50, &
                        MPI_COMM_WORLD, st, ierr)
      if (SOURCE_OF(st) /= right .or. TAG_OF(st) /= 50) call fail("Sendrecv: wrong status")
      acc(2) = acc(2) + other(1) * 1.0e-3_c_double
    end if
    if (mod(k, 5_int64) == 4) then
      sum = acc(3)  ! (MPI_IN_PLACE: Fortran's sentinel is not C's; the library converts it)
      call MPI_Allreduce(MPI_IN_PLACE, sum, 1, MPI_DOUBLE_PRECISION, MPI_SUM, MPI_COMM_WORLD, ierr)
      acc(4) = acc(4) + sum * 1.0e-6_c_double
    end if
    if (mod(k, 7_int64) == 6) then  ! a communicator made, used and freed between two safe points
      call MPI_Comm_split(MPI_COMM_WORLD, mod(rank, 2), rank, half, ierr)
      call MPI_Allreduce(acc(1), sum, 1, MPI_DOUBLE_PRECISION, MPI_MAX, half, ierr)
      acc(3) = acc(3) + sum * 1.0e-9_c_double
      call MPI_Comm_free(half, ierr)
    end if
    call send_token(k)
    if (work_us > 0) rc = usleep(int(work_us, c_int))
    step = step + 1
    call mpisnap_checkpoint_point(snap)
  end do
  ! The last token sent.
  call MPI_Recv(token, 2, MPI_DOUBLE_PRECISION, left, tag_of_step(steps - 1), MPI_COMM_WORLD, st, ierr)
  call check_status(st, steps)

  allocate (hashes(nranks))
  h = state_hash()
  call MPI_Gather(h, 1, MPI_INTEGER8, hashes, 1, MPI_INTEGER8, 0, MPI_COMM_WORLD, ierr)
  if (rank == 0) then
    write (output_unit, '(a, a, a, i0, a, i0)', advance="no") "RESULT fortran_ring ", VARIANT, " ranks ", nranks, &
      " steps ", steps
    do i = 1, nranks
      write (output_unit, '(a, z16.16)', advance="no") " ", hashes(i)
    end do
    write (output_unit, '()')
  end if
  call mpisnap_finalize(snap)
  call MPI_Finalize(ierr)

contains

  integer function tag_of_step(s)
    integer(int64), intent(in) :: s
    tag_of_step = int(mod(s + 7, 7_int64))
  end function tag_of_step

  subroutine send_token(s)
    integer(int64), intent(in) :: s
    REQUEST_T :: r
    real(c_double), save :: out(2)
    out = [acc(mod(s + 4, 4_int64) + 1), real(s + 1, c_double)]
    ! (an Isend completed before the safe point: eagerly sent, so still in flight at the cut)
    call MPI_Isend(out, 2, MPI_DOUBLE_PRECISION, right, tag_of_step(s), MPI_COMM_WORLD, r, ierr)
    call MPI_Wait(r, MPI_STATUS_IGNORE, ierr)
  end subroutine send_token

  ! The token of step s was sent by the left neighbour at step s - 1: its tag and its second number.
  subroutine check_status(s, at)
    STATUS_T, intent(in) :: s
    integer(int64), intent(in) :: at
    integer :: n
    if (SOURCE_OF(s) /= left) call fail("wrong source")
    if (TAG_OF(s) /= tag_of_step(at - 1)) call fail("wrong tag")
    call MPI_Get_count(s, MPI_DOUBLE_PRECISION, n, ierr)
    if (n /= 2) call fail("wrong count")
    if (int(token(2), int64) /= at) call fail("a token of another step: a message was lost or repeated")
  end subroutine check_status

  integer(int64) function state_hash()
    integer(int8), allocatable :: bytes(:)
    integer(int64) :: j
    bytes = [transfer(step, [0_int8]), transfer(acc, [0_int8]), transfer(hist, [0_int8]), &
             transfer(cube, [0_int8]), transfer(merge(1_int8, 0_int8, flags), [0_int8]), &
             transfer(z, [0_int8]), transfer(f4, [0_int8]), transfer(c4, [0_int8])]
    state_hash = -3750763034362895579_int64
    do j = 1, size(bytes, kind=int64)
      state_hash = ieor(state_hash, iand(int(bytes(j), int64), 255_int64)) * 1099511628211_int64
    end do
  end function state_hash

  subroutine fail(what)
    character(len=*), intent(in) :: what
    write (error_unit, '(a, i0, a, a)') "fortran_ring (", rank, "): ", what
    flush (error_unit)
    call MPI_Abort(MPI_COMM_WORLD, 3, ierr)
  end subroutine fail
end program fortran_ring

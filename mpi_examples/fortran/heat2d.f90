! heat2d in Fortran (use mpi_f08 + use mpisnap): the same Jacobi iteration as heat2d.cpp and heat2d.c
! (an n x n grid split into horizontal strips, non-blocking halo exchange, the top edge held at 1.0),
! the same checksum for the same options, bit for bit, and the same checkpoint file: /state/iter,
! /state/u and /state/v, (rows + 2) x n with the halos. The grid is u(0:n-1, 0:rows+1) here, column
! j of row i at u(j, i): the bytes of the C example's u[i * n + j], which the file stores as
! (rows + 2, n) -- a Fortran array's dimensions reversed.
!
! The two grids swap every iteration (pointers); "u" and "v" are protected again after each swap.
!
! Options: --n grid size, --iters iterations, --work-us extra microseconds per iteration,
!          --checkpoint-every k (sets MPISNAP_EVERY).
program heat2d_f
  use, intrinsic :: iso_c_binding
  use, intrinsic :: iso_fortran_env, only: int8, int64, output_unit
  use mpi_f08
  use mpisnap
  implicit none

  interface
    integer(c_int) function setenv(name, value, overwrite) bind(C, name="setenv")
      import :: c_int, c_char
      character(kind=c_char), intent(in) :: name(*), value(*)
      integer(c_int), value :: overwrite
    end function
    integer(c_int) function usleep(us) bind(C, name="usleep")
      import :: c_int
      integer(c_int), value :: us
    end function
  end interface

  integer(int64), parameter :: fnv_basis = -3750763034362895579_int64  ! 0xcbf29ce484222325
  integer(int64) :: n = 256, iters = 400, work_us = 0
  integer(int64), target :: iter
  integer :: rank, nranks, up, down, i, j, argi, nargs, rc
  integer(int64) :: row0, row1, rows, global
  real(c_double), allocatable, target :: a(:, :), b(:, :)
  real(c_double), pointer :: u(:, :), v(:, :), t(:, :)
  type(MPI_Request) :: reqs(4)
  type(mpisnap_session) :: snap
  logical :: resumed
  integer(int64) :: id, sp, mine, h
  integer(int64), allocatable :: hashes(:)
  real(c_double) :: local_sum, total
  real(c_double), allocatable :: sums(:)
  character(len=64) :: arg, val

  call MPI_Init()
  nargs = command_argument_count()
  argi = 1
  do while (argi + 1 <= nargs)
    call get_command_argument(argi, arg)
    call get_command_argument(argi + 1, val)
    select case (trim(arg))
    case ("--n")
      read (val, *) n
    case ("--iters")
      read (val, *) iters
    case ("--work-us")
      read (val, *) work_us
    case ("--checkpoint-every")
      rc = setenv("MPISNAP_EVERY" // c_null_char, trim(val) // c_null_char, 1_c_int)
    case default
      write (0, '(a, a)') "heat2d_f: unknown option ", trim(arg)
      call MPI_Abort(MPI_COMM_WORLD, 2)
    end select
    argi = argi + 2
  end do
  call MPI_Comm_rank(MPI_COMM_WORLD, rank)
  call MPI_Comm_size(MPI_COMM_WORLD, nranks)
  if (n < nranks) then
    if (rank == 0) write (0, '(a)') "heat2d_f: --n must be at least the number of ranks"
    call MPI_Abort(MPI_COMM_WORLD, 2)
  end if
  row0 = n * rank / nranks
  row1 = n * (rank + 1) / nranks
  rows = row1 - row0
  up = MPI_PROC_NULL
  if (rank > 0) up = rank - 1
  down = MPI_PROC_NULL
  if (rank + 1 < nranks) down = rank + 1

  call mpisnap_init(snap)
  iter = 0
  allocate (a(0:n - 1, 0:rows + 1), b(0:n - 1, 0:rows + 1))
  a = 0
  if (rank == 0) a(:, 1) = 1.0_c_double  ! the hot top edge (first real row)
  b = a
  u => a
  v => b
  call mpisnap_protect(snap, "iter", iter)
  call mpisnap_protect(snap, "u", u)
  call mpisnap_protect(snap, "v", v)
  call mpisnap_restore(snap, resumed)
  if (resumed .and. rank == 0) then
    call mpisnap_resume_info(snap, id, sp)
    write (output_unit, '(a, i0, a, i0, a, i0, a)') "resumed from checkpoint ", id, " at safe point ", sp, &
      " (iteration ", iter, ")"
    flush (output_unit)
  end if

  do while (iter < iters)
    call MPI_Irecv(u(:, 0), int(n), MPI_DOUBLE_PRECISION, up, 1, MPI_COMM_WORLD, reqs(1))
    call MPI_Irecv(u(:, rows + 1), int(n), MPI_DOUBLE_PRECISION, down, 0, MPI_COMM_WORLD, reqs(2))
    call MPI_Isend(u(:, 1), int(n), MPI_DOUBLE_PRECISION, up, 0, MPI_COMM_WORLD, reqs(3))
    call MPI_Isend(u(:, rows), int(n), MPI_DOUBLE_PRECISION, down, 1, MPI_COMM_WORLD, reqs(4))
    call MPI_Waitall(4, reqs, MPI_STATUSES_IGNORE)
    do i = 1, int(rows)
      global = row0 + i - 1
      do j = 0, int(n) - 1
        if (global == 0 .or. global == n - 1 .or. j == 0 .or. j == n - 1) then
          v(j, i) = u(j, i)  ! fixed boundary
        else
          v(j, i) = 0.25_c_double * (((u(j, i - 1) + u(j, i + 1)) + u(j - 1, i)) + u(j + 1, i))
        end if
      end do
    end do
    t => u
    u => v
    v => t
    call mpisnap_protect(snap, "u", u)
    call mpisnap_protect(snap, "v", v)
    if (work_us > 0) rc = usleep(int(work_us, c_int))
    iter = iter + 1
    call mpisnap_checkpoint_point(snap)
  end do

  ! Checksum: FNV-1a over the bytes of every rank's rows, combined in rank order, and the sum.
  mine = fnv1a(transfer(u(:, 1:rows), [0_int8]), fnv_basis)
  local_sum = 0
  do i = 1, int(rows)
    do j = 0, int(n) - 1
      local_sum = local_sum + u(j, i)
    end do
  end do
  allocate (hashes(nranks), sums(nranks))
  call MPI_Gather(mine, 1, MPI_INTEGER8, hashes, 1, MPI_INTEGER8, 0, MPI_COMM_WORLD)
  call MPI_Gather(local_sum, 1, MPI_DOUBLE_PRECISION, sums, 1, MPI_DOUBLE_PRECISION, 0, MPI_COMM_WORLD)
  if (rank == 0) then
    h = fnv1a(transfer(hashes, [0_int8]), fnv_basis)
    total = 0
    do i = 1, nranks
      total = total + sums(i)
    end do
    write (output_unit, '(a, i0, a, i0, a, a, a, a)') "RESULT heat2d n ", n, " iterations ", iters, &
      " checksum ", hex(h), " sum ", g17(total)
  end if
  call mpisnap_finalize(snap)
  call MPI_Finalize()

contains

  ! (64-bit FNV-1a; the multiplication wraps, as the C examples' unsigned arithmetic does)
  integer(int64) function fnv1a(bytes, basis)
    integer(int8), intent(in) :: bytes(:)
    integer(int64), intent(in) :: basis
    integer(int64), parameter :: prime = 1099511628211_int64  ! 0x100000001b3
    integer(int64) :: k
    fnv1a = basis
    do k = 1, size(bytes, kind=int64)
      fnv1a = ieor(fnv1a, iand(int(bytes(k), int64), 255_int64))
      fnv1a = fnv1a * prime
    end do
  end function fnv1a

  ! 16 lower-case hex digits, as the C examples' %016x
  function hex(x) result(s)
    integer(int64), intent(in) :: x
    character(len=16) :: s
    character(len=16), parameter :: digits = "0123456789abcdef"
    integer :: k
    do k = 0, 15
      s(16 - k:16 - k) = digits(int(ibits(x, 4 * k, 4)) + 1:int(ibits(x, 4 * k, 4)) + 1)
    end do
  end function hex

  ! x as C's %.17g prints it, for the magnitudes a sum of temperatures has (1e-5 <= |x| < 1e17, or 0)
  function g17(x) result(s)
    real(c_double), intent(in) :: x
    character(len=:), allocatable :: s
    character(len=48) :: buf, fmt
    integer :: e, k
    if (x == 0) then
      s = "0"
      return
    end if
    write (buf, '(es24.16e3)') x  ! 17 significant digits, rounded as printf rounds them
    read (buf(index(buf, "E") + 1:), *) e
    if (e < -5 .or. e >= 17) then
      s = trim(adjustl(buf))
      return
    end if
    write (fmt, '(a, i0, a)') "(f0.", 16 - e, ")"
    write (buf, fmt) x
    s = trim(adjustl(buf))
    if (index(s, ".") > 0) then
      k = len(s)
      do while (s(k:k) == "0")
        k = k - 1
      end do
      if (s(k:k) == ".") k = k - 1
      s = s(1:k)
    end if
    if (s(1:1) == ".") s = "0" // s
    if (s(1:2) == "-.") s = "-0" // s(2:)
  end function g17
end program heat2d_f

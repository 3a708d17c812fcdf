! The Fortran module from a Fortran project: counts to the first argument with a checkpoint every few
! safe points (the history of sums grows: the allocatable array is reallocated, and protected again
! each time); prints whether it resumed and the sum, as tests/consumer/c_project does.
program consumer
  use, intrinsic :: iso_fortran_env, only: int64
  use mpi
  use mpisnap
  implicit none
  integer(int64) :: steps, stop_after, total, mine, all
  integer(int64), target :: step
  integer(int64), allocatable, target :: history(:), grown(:)
  integer(int64) :: extents(MPISNAP_MAX_RANK)
  integer :: rank, ierr, rank_of
  logical :: will, resumed
  character(len=32) :: arg
  type(mpisnap_session) :: snap

  call MPI_Init(ierr)
  steps = 20
  if (command_argument_count() >= 1) then
    call get_command_argument(1, arg)
    read (arg, *) steps
  end if
  stop_after = steps  ! (leave early, as if killed)
  if (command_argument_count() >= 2) then
    call get_command_argument(2, arg)
    read (arg, *) stop_after
  end if
  call MPI_Comm_rank(MPI_COMM_WORLD, rank, ierr)
  call mpisnap_init(snap, MPI_COMM_WORLD)
  step = 0
  call mpisnap_will_restore(snap, will)
  if (will) then  ! size the history from the checkpoint before restoring into it
    call mpisnap_stored_shape(snap, "history", rank_of, extents)
    allocate (history(extents(1)))
  else
    allocate (history(0))
  end if
  call mpisnap_protect(snap, "history", history)
  call mpisnap_protect(snap, "step", step)
  call mpisnap_restore(snap, resumed)
  do while (step < steps .and. step < stop_after)
    mine = step * (rank + 1)
    call MPI_Allreduce(mine, all, 1, MPI_INTEGER8, MPI_SUM, MPI_COMM_WORLD, ierr)
    allocate (grown(step + 1))
    grown(1:step) = history
    grown(step + 1) = all
    call move_alloc(grown, history)
    step = step + 1
    call mpisnap_protect(snap, "history", history)
    call mpisnap_checkpoint_point(snap)
  end do
  total = sum(history)
  if (rank == 0) write (*, '(a, i0, a, i0, a, i0)') "consumer: resumed=", merge(1, 0, resumed), " step=", step, &
    " total=", total
  call mpisnap_finalize(snap)
  call MPI_Finalize(ierr)
end program consumer

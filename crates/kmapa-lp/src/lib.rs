//! kmapa's glue to the HiGHS LP solver, for what the `highs` crate does not expose.
//!
//! The analyst audit's joint systems (70,000–95,000 unknowns on the demo city,
//! `kmapa-cube::analyst_audit`) always have a solution known in advance: the true
//! counts. HiGHS's simplex, started from scratch, spends nearly all of its time on such
//! a system finding a first feasible basis, not optimising (docs/benchmarks.md, session
//! 18). [`start_at`] hands HiGHS the known solution and runs its crossover (IPX's),
//! which turns it into a basic feasible solution of the model; the next solve starts
//! from that basis (the primal simplex keeps it feasible while it optimises).

use highs::Model;

/// Why HiGHS could not start from the point given.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum StartError {
    #[error("the point has {given} values for a model of {columns} columns")]
    Length { given: usize, columns: usize },
    #[error("the model is too large for HiGHS's 32-bit indices")]
    TooLarge,
    #[error("HiGHS's crossover from the point failed (status {0})")]
    Crossover(i32),
}

/// Makes a basic solution of `model` from `point` (one value per column, satisfying
/// every row and bound) with HiGHS's crossover, so that the next solve starts from
/// that basis instead of looking for one: a model's costs may be changed first, the
/// basis stays primal feasible. Set the option `simplex_strategy` to 4 (primal) for
/// the next solve to keep it so; the dual simplex would start over.
///
/// The crossover is run with zero costs and zero duals, for which every feasible
/// point is optimal; call this before setting the model's costs. On an error the
/// model is as a fresh one: solving it is correct, just not started here.
pub fn start_at(model: &mut Model, point: &[f64]) -> Result<(), StartError> {
    let (columns, rows) = (model.num_cols(), model.num_rows());
    if point.len() != columns {
        return Err(StartError::Length {
            given: point.len(),
            columns,
        });
    }
    let (Ok(nc), Ok(nr)) = (i32::try_from(columns), i32::try_from(rows)) else {
        return Err(StartError::TooLarge);
    };
    ensure_scheduler();
    let (column_duals, row_duals) = (vec![0.0; columns], vec![0.0; rows]);
    // SAFETY: `model.as_mut_ptr()` is a live Highs instance for as long as `model` is
    // borrowed; HiGHS reads `nc` values from `point` and `column_duals` and `nr` from
    // `row_duals` (the lengths checked above) and keeps no pointer to any of them.
    #[allow(unsafe_code)]
    let status = unsafe {
        highs_sys::Highs_crossover(
            model.as_mut_ptr(),
            nc,
            nr,
            point.as_ptr(),
            column_duals.as_ptr(),
            row_duals.as_ptr(),
        )
    };
    // kHighsStatusOk = 0, kHighsStatusWarning = 1, kHighsStatusError = -1.
    if status < 0 {
        return Err(StartError::Crossover(status));
    }
    Ok(())
}

/// HiGHS's crossover checks for interrupts in the calling thread's task queue, which
/// only a solve sets up (`Highs::run` starts the thread's scheduler); without it the
/// crossover dereferences a null pointer. A solve of a one-column model (microseconds)
/// sets it up for this thread; it is done every time rather than remembered, so that
/// nothing here depends on how long HiGHS keeps a thread's scheduler.
fn ensure_scheduler() {
    let mut tiny = highs::RowProblem::default();
    tiny.add_column(0.0, 0.0..=1.0);
    let mut model = tiny.optimise(highs::Sense::Maximise);
    model.make_quiet();
    model.set_threads(std::num::NonZeroU32::MIN);
    let _ = model.try_solve();
}

/// The point HiGHS holds for `model` (one value per column): after [`start_at`], the
/// basic solution its crossover made of the point given.
pub fn point(model: &Model) -> Vec<f64> {
    let (columns, rows) = (model.num_cols(), model.num_rows());
    let mut x = vec![0.0; columns];
    let mut column_duals = vec![0.0; columns];
    let (mut row_values, mut row_duals) = (vec![0.0; rows], vec![0.0; rows]);
    // SAFETY: `model.as_ptr()` is a live Highs instance for as long as `model` is
    // borrowed; HiGHS writes `num_cols` values into the first two arrays and
    // `num_rows` into the last two, the lengths they were made with.
    #[allow(unsafe_code)]
    unsafe {
        highs_sys::Highs_getSolution(
            model.as_ptr(),
            x.as_mut_ptr(),
            column_duals.as_mut_ptr(),
            row_values.as_mut_ptr(),
            row_duals.as_mut_ptr(),
        );
    }
    x
}

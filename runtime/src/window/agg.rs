//! The built-in window functions: `count`, `sum`, `min`, `max`, `avg`, `reduce` and
//! `aggregate`, each an [`AggregateFunction`], and tuples of them (`(sum, count)`).
//!
//! Every constructor takes the keyed stream's witness `Ty<(K, T)>`, so that the user's
//! closure is type-checked against the record type `T` at the window function that wrote it.
//! The accumulators are small values (a counter, a running sum, an `Option`), so a window
//! holds one per key, never the records themselves.

use super::AggregateFunction;
use crate::Ty;
use std::cell::RefCell;
use std::ops::Add;

/// Counts the records of a key in a window (Flink's `count()`); the result is a `u64`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Count;

/// The `count` window function.
pub fn count<K, T>(_input: Ty<(K, T)>) -> Count {
    Count
}

impl<T> AggregateFunction<T> for Count {
    type Acc = u64;
    type Out = u64;
    #[inline]
    fn create_accumulator(&self) -> u64 {
        0
    }
    #[inline]
    fn add(&mut self, acc: &mut u64, _value: T) {
        *acc += 1;
    }
    #[inline]
    fn get_result(&self, acc: &u64) -> u64 {
        *acc
    }
    fn merge(&self, a: u64, b: u64) -> u64 {
        a + b
    }
}

/// Sums a field of the records (Flink's `sum(field)`); the result has the field's type.
///
/// Integer overflow panics in debug builds and wraps in release builds, as Rust's `+` does.
#[derive(Debug, Clone)]
pub struct Sum<F> {
    f: F,
}

/// The `sum` window function: sums `f(&record)`.
pub fn sum<K, T, N, F>(_input: Ty<(K, T)>, f: F) -> Sum<F>
where
    N: Copy + Default + Add<Output = N>,
    F: FnMut(&T) -> N,
{
    Sum { f }
}

impl<T, N, F> AggregateFunction<T> for Sum<F>
where
    N: Copy + Default + Add<Output = N>,
    F: FnMut(&T) -> N,
{
    type Acc = N;
    type Out = N;
    #[inline]
    fn create_accumulator(&self) -> N {
        N::default()
    }
    #[inline]
    fn add(&mut self, acc: &mut N, value: T) {
        *acc = *acc + (self.f)(&value);
    }
    #[inline]
    fn get_result(&self, acc: &N) -> N {
        *acc
    }
    fn merge(&self, a: N, b: N) -> N {
        a + b
    }
}

/// The smallest value of a field (Flink's `min(field)`).
///
/// When values compare unordered (a NaN), the one seen first is kept.
#[derive(Debug, Clone)]
pub struct Min<F> {
    f: F,
}

/// The `min` window function: the smallest `f(&record)`.
pub fn min<K, T, N, F>(_input: Ty<(K, T)>, f: F) -> Min<F>
where
    N: Copy + PartialOrd,
    F: FnMut(&T) -> N,
{
    Min { f }
}

/// The largest value of a field (Flink's `max(field)`).
///
/// When values compare unordered (a NaN), the one seen first is kept.
#[derive(Debug, Clone)]
pub struct Max<F> {
    f: F,
}

/// The `max` window function: the largest `f(&record)`.
pub fn max<K, T, N, F>(_input: Ty<(K, T)>, f: F) -> Max<F>
where
    N: Copy + PartialOrd,
    F: FnMut(&T) -> N,
{
    Max { f }
}

const NEVER_EMPTY: &str = "a window emits a result only after a record was added to it";

macro_rules! extremum {
    ($ty:ident, $better:tt) => {
        impl<T, N, F> AggregateFunction<T> for $ty<F>
        where
            N: Copy + PartialOrd,
            F: FnMut(&T) -> N,
        {
            /// `None` until the first record.
            type Acc = Option<N>;
            type Out = N;
            #[inline]
            fn create_accumulator(&self) -> Option<N> {
                None
            }
            #[inline]
            fn add(&mut self, acc: &mut Option<N>, value: T) {
                let v = (self.f)(&value);
                match acc {
                    Some(best) if v $better *best => *best = v,
                    Some(_) => {}
                    None => *acc = Some(v),
                }
            }
            #[inline]
            fn get_result(&self, acc: &Option<N>) -> N {
                acc.expect(NEVER_EMPTY)
            }
            fn merge(&self, a: Option<N>, b: Option<N>) -> Option<N> {
                match (a, b) {
                    (Some(a), Some(b)) => Some(if b $better a { b } else { a }),
                    (a, b) => a.or(b),
                }
            }
        }
    };
}

extremum!(Min, <);
extremum!(Max, >);

/// The arithmetic mean of a field, as `f64` (Flink's `avg`).
#[derive(Debug, Clone)]
pub struct Avg<F> {
    f: F,
}

/// The `avg` window function: the mean of `f(&record)` as an `f64`.
pub fn avg<K, T, N, F>(_input: Ty<(K, T)>, f: F) -> Avg<F>
where
    N: Copy + Into<f64>,
    F: FnMut(&T) -> N,
{
    Avg { f }
}

impl<T, N, F> AggregateFunction<T> for Avg<F>
where
    N: Copy + Into<f64>,
    F: FnMut(&T) -> N,
{
    /// (sum, count).
    type Acc = (f64, u64);
    type Out = f64;
    #[inline]
    fn create_accumulator(&self) -> (f64, u64) {
        (0.0, 0)
    }
    #[inline]
    fn add(&mut self, acc: &mut (f64, u64), value: T) {
        acc.0 += (self.f)(&value).into();
        acc.1 += 1;
    }
    #[inline]
    fn get_result(&self, acc: &(f64, u64)) -> f64 {
        acc.0 / acc.1 as f64
    }
    fn merge(&self, a: (f64, u64), b: (f64, u64)) -> (f64, u64) {
        (a.0 + b.0, a.1 + b.1)
    }
}

/// Combines the records of a window pairwise with `f(accumulated, next)` (Flink's
/// `ReduceFunction`); the result has the record type. The first record is taken as is.
#[derive(Debug, Clone)]
pub struct Reduce<F> {
    // A `RefCell` because `merge` takes `&self` but `f` is `FnMut`; `add` uses `get_mut`,
    // which costs nothing.
    f: RefCell<F>,
}

/// The `reduce` window function.
pub fn reduce<K, T, F>(_input: Ty<(K, T)>, f: F) -> Reduce<F>
where
    T: Clone,
    F: FnMut(T, T) -> T,
{
    Reduce { f: RefCell::new(f) }
}

impl<T: Clone, F: FnMut(T, T) -> T> AggregateFunction<T> for Reduce<F> {
    /// `None` until the first record.
    type Acc = Option<T>;
    type Out = T;
    #[inline]
    fn create_accumulator(&self) -> Option<T> {
        None
    }
    #[inline]
    fn add(&mut self, acc: &mut Option<T>, value: T) {
        let next = match acc.take() {
            Some(a) => (self.f.get_mut())(a, value),
            None => value,
        };
        *acc = Some(next);
    }
    #[inline]
    fn get_result(&self, acc: &Option<T>) -> T {
        acc.clone().expect(NEVER_EMPTY)
    }
    fn merge(&self, a: Option<T>, b: Option<T>) -> Option<T> {
        match (a, b) {
            (Some(a), Some(b)) => Some((self.f.borrow_mut())(a, b)),
            (a, b) => a.or(b),
        }
    }
}

/// The `aggregate` window function: any user-defined [`AggregateFunction`] of the record
/// type (or a tuple of them).
pub fn aggregate<K, T, A: AggregateFunction<T>>(_input: Ty<(K, T)>, a: A) -> A {
    a
}

macro_rules! tuple_aggregate {
    ($($f:ident $i:tt),+ ; $lf:ident $li:tt) => {
        /// Several window functions over the same records at once, e.g. `(sum, count)`:
        /// the accumulator and the result are the tuples of theirs. Each function but the
        /// last gets a clone of the record.
        impl<T: Clone, $($f: AggregateFunction<T>,)+ $lf: AggregateFunction<T>> AggregateFunction<T>
            for ($($f,)+ $lf)
        {
            type Acc = ($($f::Acc,)+ $lf::Acc);
            type Out = ($($f::Out,)+ $lf::Out);
            #[inline]
            fn create_accumulator(&self) -> Self::Acc {
                ($(self.$i.create_accumulator(),)+ self.$li.create_accumulator())
            }
            #[inline]
            fn add(&mut self, acc: &mut Self::Acc, value: T) {
                $(self.$i.add(&mut acc.$i, value.clone());)+
                self.$li.add(&mut acc.$li, value);
            }
            #[inline]
            fn get_result(&self, acc: &Self::Acc) -> Self::Out {
                ($(self.$i.get_result(&acc.$i),)+ self.$li.get_result(&acc.$li))
            }
            fn merge(&self, a: Self::Acc, b: Self::Acc) -> Self::Acc {
                ($(self.$i.merge(a.$i, b.$i),)+ self.$li.merge(a.$li, b.$li))
            }
        }
    };
}

tuple_aggregate!(A 0; B 1);
tuple_aggregate!(A 0, B 1; C 2);
tuple_aggregate!(A 0, B 1, C 2; D 3);

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, PartialEq)]
    struct Sale {
        shop: u8,
        amount: i32,
    }

    fn fold<A: AggregateFunction<Sale>>(mut a: A, amounts: &[i32]) -> A::Out {
        let mut acc = a.create_accumulator();
        for &amount in amounts {
            a.add(&mut acc, Sale { shop: 1, amount });
        }
        a.get_result(&acc)
    }

    const TY: Ty<(u8, Sale)> = Ty::of();

    #[test]
    fn count_sum_min_max_avg() {
        let xs = [5, -3, 10, 2];
        assert_eq!(fold(count(TY), &xs), 4);
        assert_eq!(fold(sum(TY, |s| s.amount), &xs), 14);
        assert_eq!(fold(sum(TY, |s| s.amount as f64 / 2.0), &xs), 7.0);
        assert_eq!(fold(min(TY, |s| s.amount), &xs), -3);
        assert_eq!(fold(max(TY, |s| s.amount), &xs), 10);
        assert_eq!(fold(avg(TY, |s| s.amount), &xs), 3.5);
        assert_eq!(fold(min(TY, |s| s.amount), &[7]), 7);
    }

    #[test]
    fn min_and_max_keep_the_first_of_equal_or_unordered_values() {
        let mut m = min(Ty::<(u8, (f64, u8))>::of(), |r| r.0);
        let mut acc = m.create_accumulator();
        for r in [(f64::NAN, 0), (1.0, 1)] {
            m.add(&mut acc, r);
        }
        assert!(m.get_result(&acc).is_nan());
    }

    #[test]
    fn reduce_takes_the_first_record_then_combines() {
        let r = reduce(TY, |a, b| Sale {
            shop: a.shop,
            amount: a.amount.max(b.amount),
        });
        assert_eq!(fold(r, &[5, -3, 10, 2]), Sale { shop: 1, amount: 10 });
        let mut calls = 0;
        let r = reduce(TY, |a, b| {
            calls += 1;
            Sale {
                shop: a.shop + b.shop,
                amount: a.amount + b.amount,
            }
        });
        assert_eq!(fold(r, &[1]), Sale { shop: 1, amount: 1 });
        assert_eq!(calls, 0);
    }

    #[test]
    fn tuples_aggregate_side_by_side_and_merge() {
        let mut sc = aggregate(TY, (sum(TY, |s| s.amount), count(TY)));
        let mut a = sc.create_accumulator();
        sc.add(&mut a, Sale { shop: 1, amount: 4 });
        sc.add(&mut a, Sale { shop: 1, amount: 6 });
        assert_eq!(sc.get_result(&a), (10, 2));
        let mut b = sc.create_accumulator();
        sc.add(&mut b, Sale { shop: 1, amount: 1 });
        assert_eq!(sc.get_result(&sc.merge(a, b)), (11, 3));

        let three = (min(TY, |s| s.amount), max(TY, |s| s.amount), avg(TY, |s| s.amount));
        assert_eq!(fold(three, &[3, 9, 6]), (3, 9, 6.0));
        let four = (count(TY), count(TY), reduce(TY, |a, _| a), sum(TY, |s| s.shop as u32));
        assert_eq!(fold(four, &[3, 9]), (2, 2, Sale { shop: 1, amount: 3 }, 2));
    }

    #[test]
    fn merges() {
        let m = min(TY, |s| s.amount);
        assert_eq!(AggregateFunction::<Sale>::merge(&m, Some(3), Some(2)), Some(2));
        assert_eq!(AggregateFunction::<Sale>::merge(&m, None, Some(2)), Some(2));
        let m = max(TY, |s| s.amount);
        assert_eq!(AggregateFunction::<Sale>::merge(&m, Some(3), Some(2)), Some(3));
        let a = avg(TY, |s| s.amount);
        assert_eq!(AggregateFunction::<Sale>::merge(&a, (1.0, 1), (2.0, 3)), (3.0, 4));
        let r = reduce(TY, |a, b| Sale {
            shop: 0,
            amount: a.amount - b.amount,
        });
        let got = r.merge(Some(Sale { shop: 1, amount: 5 }), Some(Sale { shop: 1, amount: 2 }));
        assert_eq!(got.map(|s| s.amount), Some(3));
        assert_eq!(AggregateFunction::<Sale>::merge(&Count, 2, 3), 5);
        assert_eq!(AggregateFunction::<Sale>::merge(&sum(TY, |s| s.amount), 2, 3), 5);
    }
}

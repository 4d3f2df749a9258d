//! Power sharing: which module feeds which gun, decided by demand.
//!
//! Each gun with its output on wants as many modules as its demanded power needs (at least
//! one). The modules are shared max-min fairly: one at a time to the gun that has the fewest
//! among those still wanting more (ties to the lower gun), so every active gun gets one before
//! any gets two, a small demand is met in full, and what it leaves goes to the larger ones.
//! Modules stay with the gun they feed while its share allows, so a steady session does not see
//! its modules re-shuffled; when a new gun starts, the others give up just enough for its share.
//! A gun without a module delivers nothing until one frees.

/// How many modules each gun gets when `modules` are shared by `wants` (max-min fair).
pub fn shares(wants: &[usize], modules: usize) -> Vec<usize> {
    let mut have = vec![0usize; wants.len()];
    for _ in 0..modules {
        let poorest = (0..wants.len())
            .filter(|g| have[*g] < wants[*g])
            .min_by_key(|g| (have[*g], *g));
        let Some(g) = poorest else {
            break;
        };
        have[g] += 1;
    }
    have
}

/// Allocates `previous.len()` modules among `wants.len()` guns.
///
/// `wants[g]` is how many modules gun `g` (0-based) asks for (0: output off); `previous[m]` is the
/// gun module `m` fed until now. Returns the new owner of each module.
pub fn allocate(wants: &[usize], previous: &[Option<usize>]) -> Vec<Option<usize>> {
    let guns = wants.len();
    let target = shares(wants, previous.len());
    let mut owner: Vec<Option<usize>> = previous.iter().map(|p| p.filter(|g| *g < guns)).collect();
    let mut have = vec![0usize; guns];
    // Keep what each gun's share allows, in module order; free the rest.
    for slot in &mut owner {
        if let Some(g) = *slot {
            if have[g] < target[g] {
                have[g] += 1;
            } else {
                *slot = None;
            }
        }
    }
    // Hand the free modules, in order, to the guns short of their share, in gun order.
    let mut short = (0..guns).flat_map(|g| std::iter::repeat_n(g, target[g] - have[g]));
    for slot in &mut owner {
        if slot.is_none() {
            match short.next() {
                Some(g) => *slot = Some(g),
                None => break,
            }
        }
    }
    owner
}

/// How many modules of `module_power` watts a demand of `power` watts needs (at least 1 when
/// the output is on).
pub fn modules_for(power: f64, module_power: f64) -> usize {
    if module_power <= 0.0 || !power.is_finite() || power <= module_power {
        return 1;
    }
    // Bounded by the cabinet's module count by the caller; the cast saturates.
    (power / module_power).ceil() as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(owner: &[Option<usize>], gun: usize) -> usize {
        owner.iter().filter(|o| **o == Some(gun)).count()
    }

    #[test]
    fn demand_decides_and_nobody_starves() {
        let none = [None; 12];
        let owner = allocate(&[10, 4, 0], &none);
        assert_eq!(
            (count(&owner, 0), count(&owner, 1), count(&owner, 2)),
            (8, 4, 0)
        );
        // Small demands are met exactly; leftovers stay free.
        let owner = allocate(&[2, 1, 1], &none);
        assert_eq!(
            (count(&owner, 0), count(&owner, 1), count(&owner, 2)),
            (2, 1, 1)
        );
        assert_eq!(owner.iter().filter(|o| o.is_none()).count(), 8);
        // More guns than modules: the first ones get one each.
        let owner = allocate(&[3, 3, 3], &[None, None]);
        assert_eq!(
            (count(&owner, 0), count(&owner, 1), count(&owner, 2)),
            (1, 1, 0)
        );
    }

    #[test]
    fn modules_stay_with_their_gun_while_wanted() {
        let first = allocate(&[12, 0], &[None; 12]);
        assert_eq!(count(&first, 0), 12);
        // A second gun starts: the first gives up exactly the second's fair share, and keeps
        // its lowest-numbered modules.
        let second = allocate(&[12, 6], &first);
        assert_eq!((count(&second, 0), count(&second, 1)), (6, 6));
        assert!(second[..6].iter().all(|o| *o == Some(0)));
        // A third gun wanting one module takes it from the larger share, nobody else moves.
        let third = allocate(&[12, 6, 1], &second);
        assert_eq!(
            (count(&third, 0), count(&third, 1), count(&third, 2)),
            (6, 5, 1)
        );
        let moved = second.iter().zip(&third).filter(|(a, b)| a != b).count();
        assert_eq!(moved, 1);
        let off = allocate(&[0, 6, 1], &third);
        assert_eq!((count(&off, 0), count(&off, 1), count(&off, 2)), (0, 6, 1));
        // Unchanged wants, unchanged owners.
        assert_eq!(allocate(&[0, 6, 1], &off), off);
    }

    #[test]
    fn module_count_for_power() {
        assert_eq!(modules_for(0.0, 30_000.0), 1);
        assert_eq!(modules_for(30_000.0, 30_000.0), 1);
        assert_eq!(modules_for(30_001.0, 30_000.0), 2);
        assert_eq!(modules_for(f64::INFINITY, 30_000.0), 1);
    }
}

//! The shim's locks: std's futex locks, behind parking_lot's lock-without-`Result` interface.
//!
//! A forked child inherits the forking thread's locks, taken in the fork handlers (see
//! [`super::state`]), and must release them. parking_lot's unlock may hand a contended lock straight
//! to a waiting thread (its eventual fairness), and in the child that thread does not exist: the
//! lock stays held for ever. std's unlock just clears the lock word and wakes whoever waits, which in
//! the child is nobody, so every lock a child may need is one of these. Poisoning is ignored: a
//! panic is already turned into EIO where it happened.

use std::sync::{MutexGuard, RwLockReadGuard, RwLockWriteGuard};

pub struct Mutex<T>(std::sync::Mutex<T>);

impl<T> Mutex<T> {
    pub const fn new(value: T) -> Mutex<T> {
        Mutex(std::sync::Mutex::new(value))
    }

    pub fn lock(&self) -> MutexGuard<'_, T> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The lock if it is free now (a poisoned one counts as free); `None` if it is held.
    pub fn try_lock(&self) -> Option<MutexGuard<'_, T>> {
        match self.0.try_lock() {
            Ok(g) => Some(g),
            Err(std::sync::TryLockError::Poisoned(e)) => Some(e.into_inner()),
            Err(std::sync::TryLockError::WouldBlock) => None,
        }
    }
}

pub struct RwLock<T>(std::sync::RwLock<T>);

impl<T> RwLock<T> {
    pub const fn new(value: T) -> RwLock<T> {
        RwLock(std::sync::RwLock::new(value))
    }

    pub fn read(&self) -> RwLockReadGuard<'_, T> {
        self.0.read().unwrap_or_else(|e| e.into_inner())
    }

    pub fn write(&self) -> RwLockWriteGuard<'_, T> {
        self.0.write().unwrap_or_else(|e| e.into_inner())
    }
}

//! The application's data for one session ([`Server::with_session`] and friends).
//!
//! No lock is held while the application's closure runs: the value is taken out of
//! its slot for the call and put back after it (even if the closure panics). Another
//! thread wanting the same session's data waits for it; the same thread asking again
//! from inside the closure gets [`ErrorKind::Reentrant`] instead of a deadlock.
//!
//! [`Server::with_session`]: super::Server::with_session

use std::any::Any;
use std::thread::{self, ThreadId};

use parking_lot::{Condvar, Mutex, MutexGuard};

use crate::{Error, ErrorKind, Result};

type Value = Box<dyn Any + Send>;

#[derive(Default)]
struct Slot {
    value: Option<Value>,
    /// The thread running a closure on the value, which is out of the slot meanwhile.
    borrowed_by: Option<ThreadId>,
    /// The session has ended and its disconnect handler has run: the data is gone.
    dropped: bool,
}

/// One session's data slot.
#[derive(Default)]
pub(crate) struct SessionData {
    slot: Mutex<Slot>,
    returned: Condvar,
}

impl SessionData {
    /// The slot, once no other thread has the value out.
    fn available(&self) -> Result<MutexGuard<'_, Slot>> {
        let me = thread::current().id();
        let mut slot = self.slot.lock();
        loop {
            if slot.dropped {
                return Err(Error::new(
                    ErrorKind::UnknownSession,
                    "the session has ended and its data was dropped",
                ));
            }
            match slot.borrowed_by {
                None => return Ok(slot),
                Some(t) if t == me => {
                    return Err(Error::new(
                        ErrorKind::Reentrant,
                        "the session's data is in use by an enclosing with_session call",
                    ))
                }
                Some(_) => self.returned.wait(&mut slot),
            }
        }
    }

    pub(crate) fn set(&self, value: Value) -> Result<()> {
        let mut slot = self.available()?;
        let old = slot.value.replace(value);
        drop(slot);
        drop(old); // the application's destructor runs outside the lock
        Ok(())
    }

    pub(crate) fn get<T: Any + Clone>(&self) -> Result<Option<T>> {
        let slot = self.available()?;
        match slot.value.as_ref() {
            None => Ok(None),
            Some(b) => b
                .downcast_ref::<T>()
                .map(|v| Some(v.clone()))
                .ok_or_else(|| Error::from_kind(ErrorKind::WrongDataType)),
        }
    }

    pub(crate) fn with<T: Any + Send + Default, R>(
        &self,
        f: impl FnOnce(&mut T) -> R,
    ) -> Result<R> {
        let mut slot = self.available()?;
        if slot.value.as_ref().is_some_and(|v| !v.is::<T>()) {
            return Err(Error::from_kind(ErrorKind::WrongDataType));
        }
        let value = slot.value.take().unwrap_or_else(|| Box::new(T::default()));
        slot.borrowed_by = Some(thread::current().id());
        drop(slot);
        let mut lease = Lease {
            data: self,
            value: Some(value),
        };
        let v = lease
            .value
            .as_mut()
            .and_then(|b| b.downcast_mut::<T>())
            .expect("checked above");
        Ok(f(v))
    }

    /// Drops the data (after the disconnect handler); later calls fail.
    pub(crate) fn drop_value(&self) {
        let mut slot = self.slot.lock();
        slot.dropped = true;
        let old = slot.value.take();
        drop(slot);
        drop(old);
    }
}

/// A value out of its slot for a closure; puts it back however the closure ends.
struct Lease<'a> {
    data: &'a SessionData,
    value: Option<Value>,
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        let mut slot = self.data.slot.lock();
        slot.borrowed_by = None;
        let value = self.value.take();
        let old = if slot.dropped {
            value
        } else {
            slot.value = value;
            None
        };
        drop(slot);
        self.data.returned.notify_all();
        drop(old);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Duration;

    #[test]
    fn nested_calls_on_one_thread_fail_instead_of_deadlocking() {
        let d = SessionData::default();
        let r = d.with(|n: &mut u32| {
            *n += 1;
            let inner = d.with(|m: &mut u32| *m).unwrap_err();
            assert_eq!(inner.kind(), ErrorKind::Reentrant);
            assert_eq!(d.get::<u32>().unwrap_err().kind(), ErrorKind::Reentrant);
            assert_eq!(
                d.set(Box::new(5u32)).unwrap_err().kind(),
                ErrorKind::Reentrant
            );
            *n
        });
        assert_eq!(r.unwrap(), 1);
        assert_eq!(d.get::<u32>().unwrap(), Some(1));
    }

    #[test]
    fn another_thread_waits_for_the_value() {
        let d = Arc::new(SessionData::default());
        let (tx, rx) = std::sync::mpsc::channel();
        let d2 = d.clone();
        let t = thread::spawn(move || {
            d2.with(|n: &mut u32| {
                tx.send(()).unwrap();
                thread::sleep(Duration::from_millis(100));
                *n = 7;
            })
            .unwrap();
        });
        rx.recv().unwrap();
        // Waits for the other thread's closure, then sees its write.
        assert_eq!(d.with(|n: &mut u32| *n).unwrap(), 7);
        t.join().unwrap();
    }

    #[test]
    fn a_panicking_closure_puts_the_value_back() {
        let d = SessionData::default();
        d.set(Box::new(3u32)).unwrap();
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            d.with(|_: &mut u32| panic!("boom")).unwrap();
        }));
        assert!(r.is_err());
        assert_eq!(d.get::<u32>().unwrap(), Some(3));
    }

    #[test]
    fn dropped_data_is_gone() {
        let d = SessionData::default();
        d.set(Box::new(String::from("x"))).unwrap();
        d.drop_value();
        assert_eq!(
            d.get::<String>().unwrap_err().kind(),
            ErrorKind::UnknownSession
        );
    }

    #[test]
    fn wrong_type_is_reported() {
        let d = SessionData::default();
        d.set(Box::new(1u8)).unwrap();
        assert_eq!(
            d.with(|_: &mut u32| ()).unwrap_err().kind(),
            ErrorKind::WrongDataType
        );
        assert_eq!(d.get::<u32>().unwrap_err().kind(), ErrorKind::WrongDataType);
    }
}

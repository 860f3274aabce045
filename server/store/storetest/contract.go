package storetest

import (
	"sync"
	"time"
)

// The contract suites (contract_*.go) state, once, what the domain
// packages expect of their store interfaces, in the manner of Ory Kratos's
// persister tests: each TestXxx takes a function that opens an empty store
// and runs every behaviour as a subtest on a store of its own. The store
// package runs them on every backend (server/store/contract_test.go); a
// hand-written fake runs them too, from its package's tests, so that it
// cannot drift from the real store.
//
// Behaviours that need an optional method (sweeping, reading back audit
// events) run only when the opened store has it.
//
// Which suite covers which interface:
//
//	account.Store, Looker, Patcher       TestAccountStore
//	account.ProfileStore                 TestAccountStore, TestProfileStore
//	account.SubjectAssigner              TestSubjectStore
//	recovery.Store                       TestRecoveryStore
//	recovery.Accounts                    TestAccountStore (Looker), TestProfileStore (SetPassword)
//	recovery.Sessions, session.Store     TestSessionStore
//	activation.Store                     TestActivationStore, TestAccountStore
//	ratelimit.Store                      TestRateLimitStore
//	ratelimit.ThrottleStore              TestRateLimitStore, TestThrottleStore
//	mail.Store                           TestOutboxStore
//	audit.Recorder                       TestAuditRecorder
//	cas.Store                            TestCASStore
//	cas.LogoutQueue                      TestLogoutQueue
//	oidc.Store                           TestOIDCStore

// racers is how many goroutines a concurrency behaviour sends at once.
// More than the connection pools and FerretDB's handlers serve at once, so
// that calls really overlap on every backend.
const racers = 16

// Race calls f(0) … f(n-1) in n goroutines held at a start barrier and
// released together, so that the calls overlap as much as the scheduler
// allows, and returns when all have returned. The contract suites use it,
// and so do tests of the mechanisms built on the store's atomic claims.
func Race(n int, f func(i int)) {
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			f(i)
		})
	}
	close(start)
	wg.Wait()
}

// count returns how many of errs are nil.
func count(errs []error) int {
	n := 0
	for _, err := range errs {
		if err == nil {
			n++
		}
	}
	return n
}

// instant is a time as every backend stores it: MongoDB and FerretDB
// keep milliseconds, in UTC.
func instant(t time.Time) time.Time { return t.UTC().Truncate(time.Millisecond) }

// fixed is a time for behaviours where the store takes the time as a
// parameter and never reads its clock.
func fixed() time.Time { return time.Date(2026, 9, 1, 8, 0, 0, 0, time.UTC) }

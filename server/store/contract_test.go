package store_test

import (
	"testing"

	"github.com/sesame-edu/sesame/server/account"
	"github.com/sesame-edu/sesame/server/activation"
	"github.com/sesame-edu/sesame/server/audit"
	"github.com/sesame-edu/sesame/server/cas"
	"github.com/sesame-edu/sesame/server/mail"
	"github.com/sesame-edu/sesame/server/oidc"
	"github.com/sesame-edu/sesame/server/ratelimit"
	"github.com/sesame-edu/sesame/server/recovery"
	"github.com/sesame-edu/sesame/server/session"
	"github.com/sesame-edu/sesame/server/store"
	"github.com/sesame-edu/sesame/server/store/storetest"
)

// Each domain package's store contract, run on every backend available
// here (see storetest.Backends): `go test -run 'Store/postgres'` runs them
// on FerretDB over PostgreSQL only.

// eachBackend runs suite on every backend, as a subtest named after it.
func eachBackend(t *testing.T, suite func(t *testing.T, open func(testing.TB) *store.Store)) {
	for _, b := range storetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			b.Check(t)
			suite(t, b.Open)
		})
	}
}

func TestAccountStore(t *testing.T) {
	eachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		storetest.TestAccountStore(t, func(t *testing.T) account.Store { return open(t).Accounts() })
	})
}

func TestProfileStore(t *testing.T) {
	eachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		storetest.TestProfileStore(t, func(t *testing.T) storetest.ProfileStore { return open(t).Accounts() })
	})
}

func TestSubjectStore(t *testing.T) {
	eachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		storetest.TestSubjectStore(t, func(t *testing.T) storetest.SubjectStore { return open(t).Accounts() })
	})
}

func TestRecoveryStore(t *testing.T) {
	eachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		storetest.TestRecoveryStore(t, func(t *testing.T) recovery.Store { return open(t).Flows() })
	})
}

func TestActivationStore(t *testing.T) {
	eachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		storetest.TestActivationStore(t, func(t *testing.T) activation.Store { return open(t).Activations() })
	})
}

func TestRateLimitStore(t *testing.T) {
	eachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		storetest.TestRateLimitStore(t, func(t *testing.T) ratelimit.Store { return open(t).Limits() })
	})
}

func TestThrottleStore(t *testing.T) {
	eachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		storetest.TestThrottleStore(t, func(t *testing.T) ratelimit.ThrottleStore { return open(t).Limits() })
	})
}

func TestSessionStore(t *testing.T) {
	eachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		storetest.TestSessionStore(t, func(t *testing.T) session.Store { return open(t).Sessions() })
	})
}

func TestOutboxStore(t *testing.T) {
	eachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		storetest.TestOutboxStore(t, func(t *testing.T) mail.Store { return open(t).Outbox() })
	})
}

func TestAuditRecorder(t *testing.T) {
	eachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		storetest.TestAuditRecorder(t, func(t *testing.T) audit.Recorder { return open(t).Audit() })
	})
}

func TestCASStore(t *testing.T) {
	eachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		storetest.TestCASStore(t, func(t *testing.T) cas.Store { return open(t).Tickets() })
	})
}

func TestLogoutQueue(t *testing.T) {
	eachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		storetest.TestLogoutQueue(t, func(t *testing.T) cas.LogoutQueue { return open(t).Logouts() })
	})
}

func TestDeskStore(t *testing.T) {
	eachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		storetest.TestDeskStore(t, func(t *testing.T) storetest.DeskStore {
			s := open(t)
			return storetest.DeskStore{Accounts: s.Accounts(), History: s.Audit(), Mails: s.Outbox(), Throttles: s.Limits()}
		})
	})
}

func TestOIDCStore(t *testing.T) {
	eachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		storetest.TestOIDCStore(t, func(t *testing.T) oidc.Store { return open(t).OIDC() })
	})
}

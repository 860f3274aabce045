package storetest

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/sesame-edu/sesame/server/account"
	"github.com/sesame-edu/sesame/server/audit"
	"github.com/sesame-edu/sesame/server/desk"
	"github.com/sesame-edu/sesame/server/ratelimit"
)

// DeskStore is what the office console reads, over the views that serve
// it: the accounts, the audit, the outbox and the throttles.
type DeskStore struct {
	Accounts interface {
		account.Store
		desk.Accounts
	}
	History   desk.History
	Mails     desk.Mails
	Throttles interface {
		ratelimit.ThrottleStore
		ratelimit.ThrottleLister
	}
}

// TestDeskStore is the contract of desk.Accounts, desk.History, desk.Mails
// and ratelimit.ThrottleLister.
func TestDeskStore(t *testing.T, open func(t *testing.T) DeskStore) {
	ctx := context.Background()

	t.Run("SearchReadsEveryAccountAndStopsAtTheLimit", func(t *testing.T) {
		s := open(t)
		for i, a := range []account.Account{
			{ID: "s200", Identifier: "S200", FirstName: "Marie-Hélène", LastName: "Dupont", Population: "staff", Status: account.StatusPending},
			{ID: "p001", Identifier: "P001", FirstName: "Anne", LastName: "Durand", Email: "famille.durand@example.fr", Population: "parents", Status: account.StatusActive},
			{ID: "p002", Identifier: "P002", FirstName: "Paul", LastName: "Durand", Email: "famille.durand@example.fr", Population: "parents", Status: account.StatusPending},
		} {
			a.CreatedAt = fixed().Add(time.Duration(i) * time.Second)
			mustCreate(t, s.Accounts, a)
		}
		got, err := s.Accounts.SearchAccounts(ctx, func(a account.Account) bool { return desk.Matches(a, "helene") }, 10)
		if err != nil || !slices.Equal(ids(got), []string{"s200"}) {
			t.Fatalf("search helene = %v, %v", ids(got), err)
		}
		if got[0].Status != account.StatusPending || got[0].Population != "staff" {
			t.Errorf("a search returns whole accounts: %+v", got[0])
		}
		got, err = s.Accounts.SearchAccounts(ctx, func(a account.Account) bool { return desk.Matches(a, "durand") }, 1)
		if err != nil || !slices.Equal(ids(got), []string{"p001"}) {
			t.Errorf("search durand, limit 1 = %v, %v", ids(got), err)
		}
		pending, err := s.Accounts.PendingAccounts(ctx, "parents")
		if err != nil || !slices.Equal(ids(pending), []string{"p002"}) {
			t.Errorf("PendingAccounts(parents) = %v, %v", ids(pending), err)
		}
	})

	t.Run("AuditOfReadsOneAccountNewestFirst", func(t *testing.T) {
		s := open(t)
		at := instant(time.Now())
		for i, e := range []audit.Event{
			{Action: "signin", AccountID: "p001", Outcome: "ok"},
			{Action: "desk.lift", AccountID: "p001", Actor: "s210", IP: "192.0.2.9", Outcome: "ok"},
			{Action: "signin", AccountID: "p002", Outcome: "ok"},
		} {
			e.At = at.Add(time.Duration(i) * time.Minute)
			if err := s.History.Record(ctx, e); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.History.Record(ctx, audit.Event{At: at.Add(-48 * time.Hour), Action: "signin", AccountID: "p001"}); err != nil {
			t.Fatal(err)
		}
		got, err := s.History.AuditOf(ctx, "p001", at.Add(-time.Hour))
		if err != nil || len(got) != 2 {
			t.Fatalf("AuditOf = %+v, %v", got, err)
		}
		if got[0].Action != "desk.lift" || got[0].Actor != "s210" || got[0].IP != "192.0.2.9" || !got[0].At.Equal(at.Add(time.Minute)) {
			t.Errorf("newest = %+v", got[0])
		}
	})

	t.Run("BlockedKeysAreAFamilyAndOnlyLiveOnes", func(t *testing.T) {
		s := open(t)
		now := fixed()
		for key, until := range map[string]time.Time{
			"pw:s210": now.Add(time.Minute), "pw:s210|192.0.2.1": now.Add(2 * time.Minute),
			"pw:s210|192.0.2.2": now.Add(-time.Minute), "pw:s2100": now.Add(time.Minute), "pw:s21.": now.Add(time.Minute),
		} {
			if err := s.Throttles.Block(ctx, key, until, now.Add(time.Hour)); err != nil {
				t.Fatal(err)
			}
		}
		got, err := s.Throttles.BlockedKeys(ctx, "pw:s210", now)
		if err != nil || len(got) != 2 || got[0].Key != "pw:s210" || got[1].Key != "pw:s210|192.0.2.1" || !got[1].Until.Equal(now.Add(2*time.Minute)) {
			t.Errorf("BlockedKeys = %+v, %v", got, err)
		}
		if got, _ := s.Throttles.BlockedKeys(ctx, "pw:s21.", now); len(got) != 1 {
			t.Errorf("a dot in the base is a dot, not any character: %+v", got)
		}
	})

	t.Run("MailsOfSaysWhatBecameOfAnAccountsMails", func(t *testing.T) {
		s := open(t)
		got, err := s.Mails.MailsOf(ctx, "nobody", fixed())
		if err != nil || len(got) != 0 {
			t.Errorf("MailsOf(nobody) = %+v, %v", got, err)
		}
	})
}

package storetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/sesame-edu/sesame/server/cas"
)

// TestCASStore is the contract of cas.Store: a ticket is returned whole,
// and once — by exactly one of concurrent takers; an account's logins are
// returned and forgotten, nobody else's.
func TestCASStore(t *testing.T, open func(t *testing.T) cas.Store) {
	ctx := context.Background()
	ticket := func(id string) cas.Ticket {
		now := instant(time.Now())
		return cas.Ticket{ID: id, Service: "https://pronote.example/eleve.html?x=1", ClientID: "pronote", AccountID: "p001",
			AuthTime: now.Add(-time.Minute), IssuedAt: now, ExpiresAt: now.Add(cas.TicketTTL), Renewed: true}
	}

	t.Run("TakeReturnsEveryFieldOnce", func(t *testing.T) {
		s := open(t)
		want := ticket("t1")
		if err := s.SaveTicket(ctx, want); err != nil {
			t.Fatal(err)
		}
		if got, err := s.TakeTicket(ctx, "t1"); err != nil || !reflect.DeepEqual(got, want) {
			t.Fatalf("TakeTicket = %+v, %v; want %+v", got, err, want)
		}
		if _, err := s.TakeTicket(ctx, "t1"); !errors.Is(err, cas.ErrNotFound) {
			t.Errorf("second TakeTicket: %v, want ErrNotFound", err)
		}
	})

	t.Run("TakeUnknownIsErrNotFound", func(t *testing.T) {
		if _, err := open(t).TakeTicket(ctx, "nope"); !errors.Is(err, cas.ErrNotFound) {
			t.Errorf("TakeTicket(unknown): %v", err)
		}
	})

	t.Run("ConcurrentTakersExactlyOneWins", func(t *testing.T) {
		s := open(t)
		if err := s.SaveTicket(ctx, ticket("t2")); err != nil {
			t.Fatal(err)
		}
		errs := make([]error, racers)
		Race(racers, func(i int) { _, errs[i] = s.TakeTicket(ctx, "t2") })
		if n := count(errs); n != 1 {
			t.Fatalf("%d takers got the ticket, want exactly 1 (errors: %v)", n, errors.Join(errs...))
		}
		for _, err := range errs {
			if err != nil && !errors.Is(err, cas.ErrNotFound) {
				t.Errorf("a losing taker got %v, want ErrNotFound", err)
			}
		}
	})

	t.Run("TakeLoginsReturnsThemOnce", func(t *testing.T) {
		s := open(t)
		exp := instant(time.Now().Add(time.Hour))
		for i, acc := range []string{"p001", "p001", "p002"} {
			l := cas.Login{ID: fmt.Sprint("l", i), AccountID: acc, ClientID: "pronote", Service: "https://pronote.example/", Ticket: fmt.Sprint("ST-", i), ExpiresAt: exp}
			if err := s.SaveLogin(ctx, l); err != nil {
				t.Fatal(err)
			}
		}
		got, err := s.TakeLogins(ctx, "p001")
		if err != nil || len(got) != 2 {
			t.Fatalf("TakeLogins = %+v, %v; want 2", got, err)
		}
		if got[0].Ticket == "" || got[0].Service != "https://pronote.example/" || !got[0].ExpiresAt.Equal(exp) {
			t.Errorf("login = %+v", got[0])
		}
		if again, err := s.TakeLogins(ctx, "p001"); err != nil || len(again) != 0 {
			t.Errorf("second TakeLogins = %+v, %v; want none", again, err)
		}
		if other, err := s.TakeLogins(ctx, "p002"); err != nil || len(other) != 1 {
			t.Errorf("p002's logins = %+v, %v; want 1", other, err)
		}
	})
}

// TestLogoutQueue is the contract of cas.LogoutQueue: one request per id,
// due ones oldest first, each attempt claimed by exactly one sender.
func TestLogoutQueue(t *testing.T, open func(t *testing.T) cas.LogoutQueue) {
	ctx := context.Background()
	now := fixed()
	logout := func(id string, due time.Time) cas.Logout {
		return cas.Logout{ID: id, Service: "https://pronote.example/", Ticket: "ST-" + id, CreatedAt: now, NextAttemptAt: due}
	}

	t.Run("QueueTwiceIsOneRequest", func(t *testing.T) {
		s := open(t)
		for range 2 {
			if err := s.QueueLogout(ctx, logout("a", now)); err != nil {
				t.Fatal(err)
			}
		}
		got, err := s.DueLogouts(ctx, now, 10)
		if err != nil || len(got) != 1 || got[0] != logout("a", now) {
			t.Fatalf("DueLogouts = %+v, %v; want the one request", got, err)
		}
	})

	t.Run("DueOnlyOldestFirst", func(t *testing.T) {
		s := open(t)
		for _, l := range []cas.Logout{logout("late", now.Add(time.Hour)), logout("b", now.Add(-time.Second)), logout("a", now.Add(-time.Minute))} {
			if err := s.QueueLogout(ctx, l); err != nil {
				t.Fatal(err)
			}
		}
		got, err := s.DueLogouts(ctx, now, 10)
		if err != nil || len(got) != 2 || got[0].ID != "a" || got[1].ID != "b" {
			t.Fatalf("DueLogouts = %+v, %v; want a then b", got, err)
		}
	})

	t.Run("EachAttemptClaimedOnce", func(t *testing.T) {
		s := open(t)
		wins := make([]bool, racers)
		errs := make([]error, racers)
		Race(racers, func(i int) { wins[i], errs[i] = s.ClaimLogout(ctx, "a", 1, now.Add(time.Minute)) })
		n := 0
		for i, w := range wins {
			if errs[i] != nil {
				t.Fatal(errs[i])
			}
			if w {
				n++
			}
		}
		if n != 1 {
			t.Fatalf("%d claims of attempt 1 won, want 1", n)
		}
		if ok, err := s.ClaimLogout(ctx, "a", 2, now.Add(time.Minute)); err != nil || !ok {
			t.Errorf("attempt 2: %v, %v", ok, err)
		}
	})

	t.Run("RetryThenDelete", func(t *testing.T) {
		s := open(t)
		if err := s.QueueLogout(ctx, logout("a", now)); err != nil {
			t.Fatal(err)
		}
		if err := s.RetryLogout(ctx, "a", 1, now.Add(time.Minute), "down"); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.DueLogouts(ctx, now, 10); len(got) != 0 {
			t.Errorf("due before its retry: %+v", got)
		}
		got, err := s.DueLogouts(ctx, now.Add(time.Minute), 10)
		if err != nil || len(got) != 1 || got[0].Attempts != 1 || got[0].LastError != "down" {
			t.Fatalf("after the wait: %+v, %v", got, err)
		}
		if err := s.DeleteLogout(ctx, "a"); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.DueLogouts(ctx, now.Add(time.Hour), 10); len(got) != 0 {
			t.Errorf("deleted, still due: %+v", got)
		}
	})
}

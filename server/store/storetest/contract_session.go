package storetest

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/sesame-edu/sesame/server/session"
)

func newSession(id, accountID string, expires time.Time) session.Session {
	now := instant(time.Now())
	return session.Session{ID: id, AccountID: accountID, CreatedAt: now, SeenAt: now, ExpiresAt: instant(expires), AbsoluteEnd: now.Add(12 * time.Hour)}
}

// TestSessionStore is the contract of session.Store, and so of
// recovery.Sessions (RevokeAll) and account.SessionRevoker (RevokeOthers).
// The store returns a session whatever its deadlines: session.Manager
// judges them.
func TestSessionStore(t *testing.T, open func(t *testing.T) session.Store) {
	ctx := context.Background()
	live := func() time.Time { return time.Now().Add(time.Hour) }
	create := func(t *testing.T, s session.Store, xs ...session.Session) {
		t.Helper()
		for _, x := range xs {
			if err := s.CreateSession(ctx, x); err != nil {
				t.Fatalf("CreateSession(%s): %v", x.ID, err)
			}
		}
	}
	// present lists which of ids are still found.
	present := func(t *testing.T, s session.Store, ids ...string) map[string]bool {
		t.Helper()
		out := map[string]bool{}
		for _, id := range ids {
			_, err := s.GetSession(ctx, id)
			switch {
			case err == nil:
				out[id] = true
			case errors.Is(err, session.ErrNotFound):
				out[id] = false
			default:
				t.Fatalf("GetSession(%s): %v", id, err)
			}
		}
		return out
	}

	t.Run("CreateThenGetReturnsEveryField", func(t *testing.T) {
		s := open(t)
		want := newSession("s1", "p001", live())
		create(t, s, want)
		if got, err := s.GetSession(ctx, "s1"); err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("GetSession = %+v, %v; want %+v", got, err, want)
		}
	})

	t.Run("GetUnknownIsErrNotFound", func(t *testing.T) {
		s := open(t)
		if _, err := s.GetSession(ctx, "nothing"); !errors.Is(err, session.ErrNotFound) {
			t.Errorf("GetSession(unknown): err = %v, want session.ErrNotFound", err)
		}
	})

	t.Run("TouchMovesTheIdleDeadlineOnly", func(t *testing.T) {
		s := open(t)
		want := newSession("s1", "p001", live())
		create(t, s, want)
		want.SeenAt, want.ExpiresAt = want.SeenAt.Add(time.Minute), want.ExpiresAt.Add(time.Minute)
		if err := s.TouchSession(ctx, "s1", want.SeenAt, want.ExpiresAt); err != nil {
			t.Fatal(err)
		}
		if got, err := s.GetSession(ctx, "s1"); err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("after TouchSession: %+v, %v; want %+v", got, err, want)
		}
	})

	t.Run("DeleteEndsOne", func(t *testing.T) {
		s := open(t)
		create(t, s, newSession("s1", "p001", live()), newSession("s2", "p001", live()))
		if acc, err := s.DeleteSession(ctx, "s1"); err != nil || acc != "p001" {
			t.Fatalf("DeleteSession(s1) = %q, %v; want p001", acc, err)
		}
		if acc, err := s.DeleteSession(ctx, "s1"); err != nil || acc != "" {
			t.Errorf("DeleteSession(s1) again = %q, %v; want no account", acc, err)
		}
		if got := present(t, s, "s1", "s2"); got["s1"] || !got["s2"] {
			t.Errorf("after DeleteSession(s1): present %v", got)
		}
	})

	t.Run("Revoke", func(t *testing.T) {
		tests := []struct {
			name   string
			revoke func(s session.Store) error
			want   map[string]bool
		}{
			{"RevokeAll", func(s session.Store) error { return s.RevokeAll(ctx, "p001") },
				map[string]bool{"a1": false, "a2": false, "a3": false, "b1": true}},
			{"RevokeOthers", func(s session.Store) error { return s.RevokeOthers(ctx, "p001", "a2") },
				map[string]bool{"a1": false, "a2": true, "a3": false, "b1": true}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				s := open(t)
				create(t, s, newSession("a1", "p001", live()), newSession("a2", "p001", live()),
					newSession("a3", "p001", live()), newSession("b1", "p002", live()))
				if err := tt.revoke(s); err != nil {
					t.Fatal(err)
				}
				if got := present(t, s, "a1", "a2", "a3", "b1"); !reflect.DeepEqual(got, tt.want) {
					t.Errorf("present after %s: %v, want %v", tt.name, got, tt.want)
				}
			})
		}
	})

	t.Run("ExpiredAreSwept", func(t *testing.T) {
		s := open(t)
		sw, ok := s.(interface {
			SweepSessions(ctx context.Context, now time.Time) (int, error)
		})
		if !ok {
			t.Skip("the store has no SweepSessions")
		}
		create(t, s, newSession("old", "p001", time.Now().Add(-time.Second)), newSession("live", "p001", live()))
		if n, err := sw.SweepSessions(ctx, time.Now()); err != nil || n != 1 {
			t.Errorf("SweepSessions = %d, %v; want the 1 expired session", n, err)
		}
		if got := present(t, s, "old", "live"); got["old"] || !got["live"] {
			t.Errorf("after the sweep: present %v", got)
		}
	})
}

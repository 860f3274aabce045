package storetest

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/sesame-edu/sesame/server/recovery"
)

// fullFlow is a recovery flow with every field set, live for an hour.
func fullFlow(id string) recovery.Flow {
	now := instant(time.Now())
	return recovery.Flow{
		ID: id, BrowserHash: "browser", VerifiedBy: "phone", Kind: recovery.KindPassword, Population: "parents", Lang: "fr",
		State: recovery.StateCodeSent, Version: 1, CreatedAt: now, UpdatedAt: now, ExpiresAt: now.Add(time.Hour),
		IP: "192.0.2.1", Request: "p001", RequestKey: "request-key", Pending: true, Accounts: []string{"p001", "p002"},
		CodeHash: "code-hash", CodeSentAt: now, CodeExpiresAt: now.Add(15 * time.Minute), Replaced: []string{"old-code-hash"}, Attempts: 2,
		Chosen: "p001", ConsentAt: now,
	}
}

// TestRecoveryStore is the contract of recovery.Store: flows are read
// live or not at all, and written over the version they were read at by
// exactly one writer.
func TestRecoveryStore(t *testing.T, open func(t *testing.T) recovery.Store) {
	ctx := context.Background()
	mustCreate := func(t *testing.T, s recovery.Store, f recovery.Flow) {
		t.Helper()
		if err := s.CreateFlow(ctx, f); err != nil {
			t.Fatalf("CreateFlow(%s): %v", f.ID, err)
		}
	}

	t.Run("CreateThenGetReturnsEveryField", func(t *testing.T) {
		s := open(t)
		want := fullFlow("f1")
		mustCreate(t, s, want)
		got, err := s.GetFlow(ctx, "f1")
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("GetFlow =\n%+v, %v\nwant\n%+v", got, err, want)
		}
	})

	t.Run("GetUnknownIsErrNotFound", func(t *testing.T) {
		s := open(t)
		if _, err := s.GetFlow(ctx, "nothing"); !errors.Is(err, recovery.ErrNotFound) {
			t.Errorf("GetFlow(unknown): err = %v, want recovery.ErrNotFound", err)
		}
	})

	t.Run("ExpiredIsInvisibleAndSwept", func(t *testing.T) {
		s := open(t)
		old := fullFlow("old")
		old.ExpiresAt = instant(time.Now().Add(-time.Second))
		mustCreate(t, s, old)
		mustCreate(t, s, fullFlow("live"))
		if _, err := s.GetFlow(ctx, "old"); !errors.Is(err, recovery.ErrNotFound) {
			t.Errorf("GetFlow(expired): err = %v, want recovery.ErrNotFound", err)
		}
		if n, err := s.SweepFlows(ctx, time.Now()); err != nil || n != 1 {
			t.Errorf("SweepFlows = %d, %v; want the 1 expired flow", n, err)
		}
		if _, err := s.GetFlow(ctx, "live"); err != nil {
			t.Errorf("the live flow after the sweep: %v", err)
		}
	})

	t.Run("SaveOverTheVersionRead", func(t *testing.T) {
		s := open(t)
		v1 := fullFlow("f1")
		mustCreate(t, s, v1)
		v2 := v1
		v2.Version, v2.State, v2.Attempts, v2.Pending, v2.Request = 2, recovery.StateVerified, 3, false, ""
		if err := s.SaveFlow(ctx, v2); err != nil {
			t.Fatalf("SaveFlow(version 2): %v", err)
		}
		v3 := v2
		v3.Version, v3.Attempts = 3, 4
		if err := s.SaveFlow(ctx, v3); err != nil {
			t.Fatalf("SaveFlow(version 3): %v", err)
		}
		// A writer that read version 1 comes late.
		stale := v1
		stale.Version, stale.Attempts = 2, 0
		if err := s.SaveFlow(ctx, stale); !errors.Is(err, recovery.ErrConflict) {
			t.Errorf("SaveFlow of a stale version: err = %v, want recovery.ErrConflict", err)
		}
		if got, err := s.GetFlow(ctx, "f1"); err != nil || !reflect.DeepEqual(got, v3) {
			t.Errorf("stored flow =\n%+v, %v\nwant version 3\n%+v", got, err, v3)
		}
	})

	t.Run("ConcurrentSavesOfOneVersionOneWins", func(t *testing.T) {
		s := open(t)
		f := fullFlow("race")
		mustCreate(t, s, f)
		for version := 2; version <= 4; version++ {
			errs := make([]error, racers)
			// Version 3 is written as the code step writes a try
			// (SaveCodeAttempt): the same guarantee under its step's name.
			save := s.SaveFlow
			if version == 3 {
				save = s.SaveCodeAttempt
			}
			Race(racers, func(i int) {
				g := f
				g.Version, g.Attempts = version, i
				errs[i] = save(ctx, g)
			})
			winner := -1
			for i, err := range errs {
				switch {
				case err == nil:
					winner = i
				case !errors.Is(err, recovery.ErrConflict):
					t.Errorf("version %d, writer %d: err = %v, want nil or recovery.ErrConflict", version, i, err)
				}
			}
			if n := count(errs); n != 1 {
				t.Fatalf("version %d: %d of %d writers won, want exactly 1", version, n, racers)
			}
			got, err := s.GetFlow(ctx, "race")
			if err != nil || got.Version != version || got.Attempts != winner {
				t.Fatalf("version %d: stored version %d by writer %d (%v); writer %d won", version, got.Version, got.Attempts, err, winner)
			}
		}
	})

	t.Run("Delete", func(t *testing.T) {
		s := open(t)
		mustCreate(t, s, fullFlow("f1"))
		if err := s.DeleteFlow(ctx, "f1"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.GetFlow(ctx, "f1"); !errors.Is(err, recovery.ErrNotFound) {
			t.Errorf("deleted flow: err = %v, want recovery.ErrNotFound", err)
		}
		if err := s.DeleteFlow(ctx, "f1"); err != nil {
			t.Errorf("deleting a missing flow: %v, want nil", err)
		}
	})

	t.Run("PendingFlows", func(t *testing.T) {
		s := open(t)
		now := instant(time.Now())
		flows := []struct {
			id      string
			pending bool
			updated time.Time
		}{
			{"stuck", true, now.Add(-time.Minute)},
			{"fresh", true, now.Add(time.Minute)},
			{"done", false, now.Add(-time.Minute)},
		}
		for _, x := range flows {
			f := fullFlow(x.id)
			f.Pending, f.UpdatedAt = x.pending, x.updated
			mustCreate(t, s, f)
		}
		got, err := s.PendingFlows(ctx, now)
		if err != nil || !slices.Equal(got, []string{"stuck"}) {
			t.Errorf("PendingFlows(now) = %v, %v; want [stuck]", got, err)
		}
	})
}

package storetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/sesame-edu/sesame/server/activation"
)

// fullActivation is an activation flow with every field set, live for an
// hour.
func fullActivation(id string) activation.Flow {
	now := instant(time.Now())
	return activation.Flow{
		ID: id, AccountID: "p001", BrowserHash: "browser", State: activation.StateRedirSent, Version: 1, Lang: "fr",
		IP: "192.0.2.1", CreatedAt: now, ExpiresAt: now.Add(time.Hour), RescueEmail: "rescue@example.fr",
		RescueToken: "rescue-token", RescueConfirmed: true, CharterVersion: "2026-1", CharterAt: now,
		Directory: true, DirectoryAt: now, RedirectTo: "redirect@example.fr", RedirectCopy: true,
		RedirectToken: "redirect-token", LinkDeadline: now.Add(30 * time.Minute),
	}
}

// TestActivationStore is the contract of activation.Store's flows and
// mailbox reservations. Its GetAccount and PatchAccount are
// TestAccountStore's.
func TestActivationStore(t *testing.T, open func(t *testing.T) activation.Store) {
	ctx := context.Background()
	mustCreate := func(t *testing.T, s activation.Store, f activation.Flow) {
		t.Helper()
		if err := s.CreateActivation(ctx, f); err != nil {
			t.Fatalf("CreateActivation(%s): %v", f.ID, err)
		}
	}

	t.Run("CreateThenGetReturnsEveryField", func(t *testing.T) {
		s := open(t)
		want := fullActivation("a1")
		mustCreate(t, s, want)
		got, err := s.GetActivation(ctx, "a1")
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("GetActivation =\n%+v, %v\nwant\n%+v", got, err, want)
		}
	})

	t.Run("GetUnknownIsErrNotFound", func(t *testing.T) {
		s := open(t)
		if _, err := s.GetActivation(ctx, "nothing"); !errors.Is(err, activation.ErrNotFound) {
			t.Errorf("GetActivation(unknown): err = %v, want activation.ErrNotFound", err)
		}
	})

	t.Run("CreateOverALiveFlowIsErrConflict", func(t *testing.T) {
		s := open(t)
		mustCreate(t, s, fullActivation("a1"))
		other := fullActivation("a1")
		other.BrowserHash = "another browser"
		if err := s.CreateActivation(ctx, other); !errors.Is(err, activation.ErrConflict) {
			t.Errorf("CreateActivation over a live flow: err = %v, want activation.ErrConflict", err)
		}
		if got, _ := s.GetActivation(ctx, "a1"); got.BrowserHash != "browser" {
			t.Errorf("the live flow was replaced (browser %q)", got.BrowserHash)
		}
	})

	t.Run("ExpiredIsInvisibleReplacedAndSwept", func(t *testing.T) {
		s := open(t)
		old := fullActivation("a1")
		old.ExpiresAt = instant(time.Now().Add(-time.Second))
		mustCreate(t, s, old)
		if _, err := s.GetActivation(ctx, "a1"); !errors.Is(err, activation.ErrNotFound) {
			t.Errorf("GetActivation(expired): err = %v, want activation.ErrNotFound", err)
		}
		// The person comes back after the expiry, before any sweep.
		again := fullActivation("a1")
		again.BrowserHash = "new browser"
		mustCreate(t, s, again)
		if got, err := s.GetActivation(ctx, "a1"); err != nil || got.BrowserHash != "new browser" {
			t.Errorf("the new flow: %+v, %v", got, err)
		}
		expired := fullActivation("a2")
		expired.ExpiresAt = old.ExpiresAt
		mustCreate(t, s, expired)
		if sw, ok := s.(interface {
			SweepActivations(ctx context.Context, now time.Time) (int, error)
		}); ok {
			if n, err := sw.SweepActivations(ctx, time.Now()); err != nil || n != 1 {
				t.Errorf("SweepActivations = %d, %v; want the 1 expired flow", n, err)
			}
		}
		if _, err := s.GetActivation(ctx, "a1"); err != nil {
			t.Errorf("the live flow after the sweep: %v", err)
		}
	})

	t.Run("SaveOverTheVersionRead", func(t *testing.T) {
		s := open(t)
		v1 := fullActivation("a1")
		mustCreate(t, s, v1)
		v2 := v1
		v2.Version, v2.State = 2, activation.StatePassword
		if err := s.SaveActivation(ctx, v2); err != nil {
			t.Fatalf("SaveActivation(version 2): %v", err)
		}
		stale := v1
		stale.Version, stale.State = 2, activation.StateCharter
		if err := s.SaveActivation(ctx, stale); !errors.Is(err, activation.ErrConflict) {
			t.Errorf("SaveActivation of a stale version: err = %v, want activation.ErrConflict", err)
		}
		if got, err := s.GetActivation(ctx, "a1"); err != nil || !reflect.DeepEqual(got, v2) {
			t.Errorf("stored flow =\n%+v, %v\nwant version 2\n%+v", got, err, v2)
		}
	})

	// One flow per account: a flow started again after the first was
	// deleted starts from version 1, and its writes must not collide with
	// the first flow's.
	t.Run("ANewFlowOfTheSameIDSavesAfresh", func(t *testing.T) {
		s := open(t)
		first := fullActivation("a1")
		mustCreate(t, s, first)
		first.Version = 2
		if err := s.SaveActivation(ctx, first); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteActivation(ctx, "a1"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.GetActivation(ctx, "a1"); !errors.Is(err, activation.ErrNotFound) {
			t.Errorf("deleted flow: err = %v, want activation.ErrNotFound", err)
		}
		second := fullActivation("a1")
		second.CreatedAt = first.CreatedAt.Add(time.Millisecond)
		mustCreate(t, s, second)
		second.Version = 2
		if err := s.SaveActivation(ctx, second); err != nil {
			t.Errorf("the new flow's version 2: %v", err)
		}
	})

	t.Run("ConcurrentSavesOfOneVersionOneWins", func(t *testing.T) {
		s := open(t)
		f := fullActivation("race")
		mustCreate(t, s, f)
		for version := 2; version <= 4; version++ {
			errs := make([]error, racers)
			Race(racers, func(i int) {
				g := f
				g.Version, g.Lang = version, fmt.Sprint(i)
				errs[i] = s.SaveActivation(ctx, g)
			})
			winner := -1
			for i, err := range errs {
				switch {
				case err == nil:
					winner = i
				case !errors.Is(err, activation.ErrConflict):
					t.Errorf("version %d, writer %d: err = %v, want nil or activation.ErrConflict", version, i, err)
				}
			}
			if n := count(errs); n != 1 {
				t.Fatalf("version %d: %d of %d writers won, want exactly 1", version, n, racers)
			}
			if got, err := s.GetActivation(ctx, "race"); err != nil || got.Version != version || got.Lang != fmt.Sprint(winner) {
				t.Fatalf("version %d: stored version %d by writer %s (%v); writer %d won", version, got.Version, got.Lang, err, winner)
			}
		}
	})

	t.Run("ConcurrentMailboxClaimsOneWins", func(t *testing.T) {
		s := open(t)
		const address = "anne.durand@school.example"
		oks := make([]bool, racers)
		errs := make([]error, racers)
		Race(racers, func(i int) { oks[i], errs[i] = s.ClaimMailbox(ctx, address, fmt.Sprintf("p%02d", i)) })
		if err := errors.Join(errs...); err != nil {
			t.Fatal(err)
		}
		winner, wins := -1, 0
		for i, ok := range oks {
			if ok {
				winner, wins = i, wins+1
			}
		}
		if wins != 1 {
			t.Fatalf("%d of %d accounts got one address, want exactly 1", wins, racers)
		}
		// Asking again for one's own address succeeds; for another's does not.
		for i := range 2 {
			id := fmt.Sprintf("p%02d", (winner+i)%racers)
			ok, err := s.ClaimMailbox(ctx, address, id)
			if err != nil || ok != (i == 0) {
				t.Errorf("ClaimMailbox again by %s = %v, %v; want %v", id, ok, err, i == 0)
			}
		}
	})
}

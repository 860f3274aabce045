package session_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/sesame-edu/sesame/server/session"
)

// memStore keeps sessions in a map: enough to watch the decorator.
type memStore map[string]session.Session

func (m memStore) CreateSession(_ context.Context, s session.Session) error { m[s.ID] = s; return nil }
func (m memStore) GetSession(_ context.Context, id string) (session.Session, error) {
	s, ok := m[id]
	if !ok {
		return s, session.ErrNotFound
	}
	return s, nil
}
func (m memStore) TouchSession(context.Context, string, time.Time, time.Time) error { return nil }
func (m memStore) DeleteSession(_ context.Context, id string) (string, error) {
	acc := m[id].AccountID
	delete(m, id)
	return acc, nil
}
func (m memStore) RevokeAll(_ context.Context, acc string) error {
	for id, s := range m {
		if s.AccountID == acc {
			delete(m, id)
		}
	}
	return nil
}
func (m memStore) RevokeOthers(_ context.Context, acc, keep string) error {
	for id, s := range m {
		if s.AccountID == acc && id != keep {
			delete(m, id)
		}
	}
	return nil
}

// TestEverySignOutIsTold: sign-out, reset and password change all tell the
// applications; a token that matches no session tells nobody.
func TestEverySignOutIsTold(t *testing.T) {
	ctx := context.Background()
	var told []string
	st := session.Notifying(memStore{}, func(_ context.Context, acc string) { told = append(told, acc) })
	m := session.New(st, time.Hour, 2*time.Hour, time.Now)
	tokA, _, _ := m.Create(ctx, "a")
	tokB, _, _ := m.Create(ctx, "b")
	if err := m.End(ctx, tokA); err != nil {
		t.Fatal(err)
	}
	if err := m.End(ctx, tokA); err != nil { // already ended
		t.Fatal(err)
	}
	if err := m.End(ctx, "not-a-token"); err != nil {
		t.Fatal(err)
	}
	_ = st.RevokeOthers(ctx, "b", "keep")
	_ = st.RevokeAll(ctx, "c")
	if want := []string{"a", "b", "c"}; !slices.Equal(told, want) {
		t.Errorf("told %v, want %v", told, want)
	}
	if _, err := m.Resolve(ctx, tokB); err == nil {
		t.Error("b's session outlived RevokeOthers")
	}
}

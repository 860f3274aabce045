package mail

import (
	"context"
	"slices"
	"sync"
	"time"
)

// memStore is a Store in memory for the worker's unit tests, which look
// inside the worker (deliverOne, running) from this package. It passes the
// same contract as the real store (storetest.TestOutboxStore, run in
// contract_test.go).
type memStore struct {
	mu   sync.Mutex
	msgs map[string]*Envelope
}

func newMemStore() *memStore { return &memStore{msgs: map[string]*Envelope{}} }

func (s *memStore) get(id string) Envelope {
	s.mu.Lock()
	defer s.mu.Unlock()
	return *s.msgs[id]
}

func (s *memStore) InsertOutbox(_ context.Context, e Envelope) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.msgs[e.ID]; ok {
		return ErrDuplicate
	}
	s.msgs[e.ID] = &e
	return nil
}

// GetOutbox is the optional reader the contract suite uses.
func (s *memStore) GetOutbox(_ context.Context, id string) (Envelope, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.msgs[id]
	if !ok {
		return Envelope{}, false, nil
	}
	return *e, true, nil
}

func (s *memStore) ClaimOutbox(_ context.Context, now time.Time, lease time.Duration, worker string) (Envelope, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var due []*Envelope
	for _, e := range s.msgs {
		if e.Status == StatusPending && !e.NextAttemptAt.After(now) || e.Status == StatusSending && e.LeaseUntil.Before(now) {
			due = append(due, e)
		}
	}
	if len(due) == 0 {
		return Envelope{}, false, nil
	}
	e := slices.MinFunc(due, func(a, b *Envelope) int { return a.NextAttemptAt.Compare(b.NextAttemptAt) })
	e.Status, e.LeasedBy, e.LeaseUntil = StatusSending, worker, now.Add(lease)
	e.Attempts++
	return *e, true, nil
}

func (s *memStore) ClaimOutboxByID(_ context.Context, id string, now time.Time, lease time.Duration, worker string) (Envelope, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.msgs[id]
	if e == nil || !(e.Status == StatusPending && !e.NextAttemptAt.After(now) || e.Status == StatusSending && e.LeaseUntil.Before(now)) {
		return Envelope{}, false, nil
	}
	e.Status, e.LeasedBy, e.LeaseUntil = StatusSending, worker, now.Add(lease)
	e.Attempts++
	return *e, true, nil
}

func (s *memStore) mark(id, worker string, f func(*Envelope)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.msgs[id]
	if e == nil || e.Status != StatusSending || e.LeasedBy != worker {
		return ErrLeaseLost
	}
	f(e)
	return nil
}

func (s *memStore) MarkOutboxSent(_ context.Context, id, worker string, now, purgeAt time.Time) error {
	return s.mark(id, worker, func(e *Envelope) {
		e.Status, e.DoneAt, e.PurgeAt, e.Sealed, e.LeaseUntil = StatusSent, now, purgeAt, nil, time.Time{}
	})
}

func (s *memStore) MarkOutboxRetry(_ context.Context, id, worker string, next time.Time, lastErr string) error {
	return s.mark(id, worker, func(e *Envelope) {
		e.Status, e.NextAttemptAt, e.LastError, e.LeasedBy, e.LeaseUntil = StatusPending, next, lastErr, "", time.Time{}
	})
}

func (s *memStore) MarkOutboxFailed(_ context.Context, id, worker string, now, purgeAt time.Time, lastErr string) error {
	return s.mark(id, worker, func(e *Envelope) {
		e.Status, e.DoneAt, e.PurgeAt, e.LastError, e.Sealed, e.LeaseUntil = StatusFailed, now, purgeAt, lastErr, nil, time.Time{}
	})
}

func (s *memStore) OutboxStats(context.Context) (int, time.Time, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, oldest := 0, time.Time{}
	for _, e := range s.msgs {
		if e.Status == StatusPending || e.Status == StatusSending {
			if n == 0 || e.CreatedAt.Before(oldest) {
				oldest = e.CreatedAt
			}
			n++
		}
	}
	return n, oldest, nil
}

func (s *memStore) PurgeOutbox(_ context.Context, now time.Time) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for id, e := range s.msgs {
		if !e.PurgeAt.After(now) {
			delete(s.msgs, id)
			n++
		}
	}
	return n, nil
}

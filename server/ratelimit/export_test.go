package ratelimit

// NewMemStore gives the external contract test the in-memory fake.
func NewMemStore() Store { return newMemStore() }

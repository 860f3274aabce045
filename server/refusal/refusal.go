// Package refusal is the one shape in which every domain package says why
// it refused what a person submitted: the field, and the reason. Domain
// packages never carry words or message keys; the web layer has the one
// table that turns a refusal into words in the person's language.
//
// A refused step changes nothing: the caller shows the refusals and keeps
// what was typed (except passwords).
package refusal

import "time"

// Reason is why a field was refused.
type Reason string

// The reasons, shared by every flow.
const (
	// Missing: the field is required and empty.
	Missing Reason = "missing"
	// Invalid: the value is not of the expected form (an address, a phone
	// number, a code).
	Invalid Reason = "invalid"
	// TooLong: the value is longer than the field allows.
	TooLong Reason = "too_long"
	// Mismatch: the confirmation differs from the new password.
	Mismatch Reason = "mismatch"
	// Rules: the new password does not meet the population's rules.
	Rules Reason = "rules"
	// Same: the new password is the current one.
	Same Reason = "same"
	// Wrong: a password (current or provisional) is wrong; the person is
	// never told which part of a pair was.
	Wrong Reason = "wrong"
	// Throttled: too many wrong tries; wait (Refusal.Wait).
	Throttled Reason = "throttled"
	// Choose: an account must be chosen first (a shared address).
	Choose Reason = "choose"
	// Budget: too many mails of this kind for the account this hour.
	Budget Reason = "budget"
	// Loop: a mailbox redirected to itself.
	Loop Reason = "loop"
	// NotConfirmed: an address is not confirmed yet.
	NotConfirmed Reason = "not_confirmed"
	// Pending: the account is not activated yet (no code can reach it).
	Pending Reason = "pending"
	// NoAddress: the account has no address on file, nor guardians.
	NoAddress Reason = "no_address"
)

// Refusal is one refused field.
type Refusal struct {
	Field  string
	Reason Reason
	// Wait is how long to wait, for Throttled and Budget.
	Wait time.Duration
}

// List is every refusal of one submission; empty means accepted.
type List []Refusal

// Add appends a refusal and returns the list.
func (l List) Add(field string, reason Reason) List {
	return append(l, Refusal{Field: field, Reason: reason})
}

// Of returns the refusal of a field, if any.
func (l List) Of(field string) (Refusal, bool) {
	for _, r := range l {
		if r.Field == field {
			return r, true
		}
	}
	return Refusal{}, false
}

// Wait returns the longest wait any refusal asks for.
func (l List) Wait() time.Duration {
	var w time.Duration
	for _, r := range l {
		w = max(w, r.Wait)
	}
	return w
}

// Package helpdesk describes how a school's help desk can be reached and
// answers whether the desk is open now and when it next opens or closes.
//
// Office hours are wall-clock times in a configured time zone (Europe/Paris
// in production). The package is pure Go and depends only on the standard
// library, so it can be used by the web layer and by tests alike.
package helpdesk

import (
	"sort"
	"strings"
	"time"
)

// Contact is the help desk's contact card as written in the configuration.
// It is decoded from YAML by another package, which honours the yaml tags.
//
// The texts field is named Texts in Go, not Text, because Go forbids a field
// and a method with the same name and Contact.Text(lang) is the accessor
// callers should use; the YAML key is still "text".
type Contact struct {
	Texts map[string]string `yaml:"text"` // language ("fr", "en") → short text shown to people
	Email string            `yaml:"email"`
	Phone string            `yaml:"phone"`
	URL   string            `yaml:"url"`
	// Addresses is where the desk receives people in person (an
	// association's « permanences »), by language; lines are separated by
	// newlines. The YAML key is "address"; see Address.
	Addresses map[string]string `yaml:"address"`
	Hours     Hours             `yaml:"hours"`
}

// Hours holds the weekly office hours and the date ranges (school holidays)
// during which the desk is closed regardless of the weekly slots.
type Hours struct {
	Slots    []Slot      `yaml:"slots"`
	Closures []DateRange `yaml:"closures"`
}

// Slot is one weekly opening, such as Tuesday 14:00–16:00.
//
// Day is an English or French day name ("monday", "lundi"), compared
// case-insensitively. From is inclusive and To is exclusive; both are "HH:MM"
// wall-clock times on the same day. When Months is not empty the slot only
// applies during those months (1 = January … 12 = December).
type Slot struct {
	Day    string `yaml:"day"`
	From   string `yaml:"from"`
	To     string `yaml:"to"`
	Months []int  `yaml:"months"`
}

// DateRange is a closure such as a school holiday. From and To are
// "YYYY-MM-DD" dates and both are inclusive: the desk is closed from From
// 00:00 to the end of To, in the configured time zone.
type DateRange struct {
	From  string            `yaml:"from"`
	To    string            `yaml:"to"`
	Label map[string]string `yaml:"label"` // "fr"/"en" → « Vacances de la Toussaint »
}

// Problem is one configuration error found by Contact.Validate.
// Field is a path relative to the Contact, for example "hours.slots[1].from",
// so that an administrator can find the faulty line in the YAML file.
type Problem struct {
	Field   string
	Message string
}

// String formats the problem as "field: message" for logs.
func (p Problem) String() string {
	return p.Field + ": " + p.Message
}

// Text returns the contact text in lang, falling back to French and then to
// any available language so that people always see something.
func (c Contact) Text(lang string) string {
	return pickLang(c.Texts, lang)
}

// Address returns the in-person address in lang, one line per element,
// with the same fallbacks as Text; nil when the desk has none.
func (c Contact) Address(lang string) []string {
	var lines []string
	for _, l := range strings.Split(pickLang(c.Addresses, lang), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	return lines
}

// LabelText returns the closure label in lang, with the same fallbacks as
// Contact.Text.
func (r DateRange) LabelText(lang string) string {
	return pickLang(r.Label, lang)
}

// defaultLang is the language used when the requested one is missing,
// because the configuration is primarily written in French.
const defaultLang = "fr"

// pickLang looks up lang, then its base language ("en" for "en-GB"), then
// defaultLang, then the first non-empty text in key order. Key order makes
// the last fallback deterministic despite Go's random map iteration.
func pickLang(texts map[string]string, lang string) string {
	if len(texts) == 0 {
		return ""
	}
	lang = strings.ToLower(strings.TrimSpace(lang))
	if s := texts[lang]; s != "" {
		return s
	}
	if base, _, ok := strings.Cut(strings.ReplaceAll(lang, "_", "-"), "-"); ok {
		if s := texts[base]; s != "" {
			return s
		}
	}
	if s := texts[defaultLang]; s != "" {
		return s
	}
	keys := make([]string, 0, len(texts))
	for k, v := range texts {
		if v != "" {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return ""
	}
	sort.Strings(keys)
	return texts[keys[0]]
}

// Status describes the desk at a given instant.
type Status struct {
	// Known is false when no valid slot is configured; the UI then shows
	// no hours at all rather than a misleading "closed".
	Known bool
	// Open reports whether the desk is open at the given instant.
	Open bool
	// ClosesAt is when the current opening ends, set only when Open.
	ClosesAt time.Time
	// NextOpen is the start of the next opening, set only when not Open
	// and an opening exists within 366 days; it is zero otherwise.
	NextOpen time.Time
	// NextClose is the end of the opening that starts at NextOpen.
	NextClose time.Time
	// Closure is the closure in effect at the given instant, if any.
	Closure *DateRange
}

// WeekLine is one row of the weekly table shown to people.
// From and To are normalised to "HH:MM".
type WeekLine struct {
	Weekday  time.Weekday
	From, To string
	Months   []int
}

// Week returns the valid weekly slots in display order: Monday first, Sunday
// last, then by start time. Invalid slots are left out, as in Status.
func (h Hours) Week() []WeekLine {
	c := h.compile()
	if len(c.slots) == 0 {
		return nil
	}
	lines := make([]WeekLine, 0, len(c.slots))
	for _, s := range c.slots {
		lines = append(lines, WeekLine{
			Weekday: s.day,
			From:    formatClock(s.from),
			To:      formatClock(s.to),
			Months:  s.monthList(),
		})
	}
	return lines
}

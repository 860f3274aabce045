package helpdesk

import (
	"fmt"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Validate reports every configuration error in the contact card, so that
// an administrator can fix them all in one go at startup instead of
// discovering them one page view at a time. It returns nil when the card is
// valid. Status and Week ignore whatever Validate would reject.
func (c Contact) Validate() []Problem {
	var ps []Problem
	add := func(field, format string, args ...any) {
		ps = append(ps, Problem{Field: field, Message: fmt.Sprintf(format, args...)})
	}

	for lang := range c.Texts {
		if strings.TrimSpace(lang) == "" {
			add("text", "empty language code")
		}
	}
	if c.Email != "" && !plausibleEmail(c.Email) {
		add("email", "%q is not an e-mail address", c.Email)
	}
	if c.Phone != "" && !plausiblePhone(c.Phone) {
		add("phone", "%q is not a phone number", c.Phone)
	}
	for lang, a := range c.Addresses {
		switch {
		case strings.TrimSpace(lang) == "":
			add("address", "empty language code")
		case utf8.RuneCountInString(a) > 300:
			add("address."+lang, "longer than 300 characters")
		case strings.IndexFunc(a, func(r rune) bool { return r != '\n' && !unicode.IsPrint(r) }) >= 0:
			add("address."+lang, "holds control or invisible characters (only line breaks are allowed)")
		}
	}
	if c.URL != "" {
		u, err := url.Parse(c.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			add("url", "%q is not an http(s) URL", c.URL)
		}
	}

	for i, s := range c.Hours.Slots {
		field := fmt.Sprintf("hours.slots[%d]", i)
		if _, ok := parseDay(s.Day); !ok {
			add(field+".day", "%q is not a day name (monday…sunday or lundi…dimanche)", s.Day)
		}
		from, okFrom := parseClock(s.From)
		if !okFrom {
			add(field+".from", "%q is not a time between 00:00 and 23:59", s.From)
		}
		to, okTo := parseClock(s.To)
		if !okTo {
			add(field+".to", "%q is not a time between 00:00 and 23:59", s.To)
		}
		if okFrom && okTo && to <= from {
			add(field+".to", "%s must be after from (%s)", s.To, s.From)
		}
		seen := map[int]bool{}
		for j, m := range s.Months {
			switch {
			case m < 1 || m > 12:
				add(fmt.Sprintf("%s.months[%d]", field, j), "%d is not a month (1…12)", m)
			case seen[m]:
				add(fmt.Sprintf("%s.months[%d]", field, j), "month %d is listed twice", m)
			}
			seen[m] = true
		}
	}

	for i, r := range c.Hours.Closures {
		field := fmt.Sprintf("hours.closures[%d]", i)
		from, okFrom := parseDate(r.From)
		if !okFrom {
			add(field+".from", "%q is not a date (YYYY-MM-DD)", r.From)
		}
		to, okTo := parseDate(r.To)
		if !okTo {
			add(field+".to", "%q is not a date (YYYY-MM-DD)", r.To)
		}
		if okFrom && okTo && to < from {
			add(field+".to", "%s is before from (%s)", r.To, r.From)
		}
	}
	return ps
}

// plausibleEmail checks the shape local@domain without trying to implement
// RFC 5322: the goal is to catch typos such as a missing "@", not to accept
// or reject exotic but valid addresses.
func plausibleEmail(s string) bool {
	local, domain, ok := strings.Cut(s, "@")
	return ok && local != "" && domain != "" &&
		!strings.Contains(domain, "@") &&
		!strings.ContainsFunc(s, unicode.IsSpace)
}

// plausiblePhone accepts digits with the usual separators ("+33 1 23 45 67 89",
// "01.23.45.67.89") and requires at least a few digits, which catches an
// e-mail address or a URL pasted into the wrong field.
func plausiblePhone(s string) bool {
	digits := 0
	for _, r := range s {
		switch {
		case r >= '0' && r <= '9':
			digits++
		case r == ' ' || r == '.' || r == '-' || r == '(' || r == ')' || r == '/':
		case r == '+' && digits == 0:
		default:
			return false
		}
	}
	return digits >= 3
}

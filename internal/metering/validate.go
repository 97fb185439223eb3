package metering

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode/utf16"
)

// Constraints from the API model (aws-models/botocore/meteringmarketplace).
// The model is the source of truth; constraint tests are generated from it.
const (
	MaxProductCode        = 255
	MaxUsageDimension     = 255
	MaxQuantity           = 2147483647
	MaxClientToken        = 64
	MaxCustomerIdentifier = 255
	MaxCustomerAccountID  = 255
	MaxTagKey             = 100
	MaxTagValue           = 256
	MaxTags               = 5
	MaxAllocations        = 2500
	MaxUsageRecords       = 25
)

// Patterns from the model, kept verbatim. The tag pattern's " -=" is a range
// from space to '=', as AWS's validator reads it too.
const (
	PatternProductCode    = `^[-a-zA-Z0-9/=:_.@]*$`
	PatternCustomerAcct   = `^[0-9]+$`
	PatternLicenseArn     = `^arn:aws[a-zA-Z-]*:[A-Za-z0-9][A-Za-z0-9_/.-]{0,62}:[A-Za-z0-9_/.-]{0,63}:[A-Za-z0-9_/.-]{0,63}:[A-Za-z0-9][A-Za-z0-9:_/+=,@.-]{0,1023}$`
	PatternTag            = `^[a-zA-Z0-9+ -=._:\/@]+$`
	PatternUsageDimension = `[\s\S]+`
)

var (
	reProductCode  = CompilePattern(PatternProductCode)
	reCustomerAcct = CompilePattern(PatternCustomerAcct)
	reLicenseArn   = CompilePattern(PatternLicenseArn)
	reTag          = CompilePattern(PatternTag)
)

var bigRepeat = regexp.MustCompile(`(\[[^\]]*\])\{0,(\d+)\}`)

// CompilePattern compiles a pattern from the API model. RE2 caps a repeat
// count at 1000, so a class repeated {0,N} with N > 1000 (LicenseArn has
// {0,1023}) is split into {0,1000}{0,N-1000}, which matches the same strings.
func CompilePattern(pattern string) *regexp.Regexp {
	return regexp.MustCompile(bigRepeat.ReplaceAllStringFunc(pattern, func(m string) string {
		sub := bigRepeat.FindStringSubmatch(m)
		n, _ := strconv.Atoi(sub[2])
		if n <= 1000 {
			return m
		}
		return fmt.Sprintf("%s{0,1000}%s{0,%d}", sub[1], sub[1], n-1000)
	}))
}

// AllocationInput is one UsageAllocation as the client sent it. Pointers and
// nil slices stand for absent members.
type AllocationInput struct {
	AllocatedUsageQuantity *int64
	Tags                   []TagInput
}

// TagInput is one Tag as the client sent it.
type TagInput struct {
	Key   *string
	Value *string
}

// violations collects constraint failures the way AWS's front end reports
// them: "N validation errors detected: Value … at '…' failed to satisfy
// constraint: …". Tag failures are kept apart because AWS answers them with
// InvalidTagException, the error its documentation names for bad tags.
type violations struct {
	general []string
	tags    []string
	kind    Kind // of general violations; zero means KindValidation
}

func (v *violations) add(tag bool, value, path, constraint string) {
	msg := fmt.Sprintf("Value %s at '%s' failed to satisfy constraint: Member %s", value, path, constraint)
	if tag {
		v.tags = append(v.tags, msg)
	} else {
		v.general = append(v.general, msg)
	}
}

func (v *violations) err() error {
	if len(v.general) > 0 {
		kind := v.kind
		if kind == 0 {
			kind = KindValidation
		}
		return Errorf(kind, "%s", detected(v.general))
	}
	if len(v.tags) > 0 {
		return Errorf(KindInvalidTag, "%s", detected(v.tags))
	}
	return nil
}

func detected(msgs []string) string {
	noun := "error"
	if len(msgs) > 1 {
		noun = "errors"
	}
	return fmt.Sprintf("%d validation %s detected: %s", len(msgs), noun, strings.Join(msgs, "; "))
}

func quote(s string) string {
	const maxShown = 128 // keep messages readable when a value is huge
	if len(s) > maxShown {
		s = s[:maxShown] + "..."
	}
	return "'" + s + "'"
}

// strlen counts as AWS's Java front end does: UTF-16 code units.
func strlen(s string) int {
	n := 0
	for _, r := range s {
		n += utf16.RuneLen(r)
	}
	return n
}

type stringRule struct {
	min, max int // max 0: unbounded
	re       *regexp.Regexp
	pattern  string
	tag      bool
}

func (v *violations) str(path string, s *string, required bool, r stringRule) {
	if s == nil {
		if required {
			v.add(r.tag, "null", path, "must not be null")
		}
		return
	}
	n := strlen(*s)
	if n < r.min {
		v.add(r.tag, quote(*s), path, "must have length greater than or equal to "+strconv.Itoa(r.min))
	}
	if r.max > 0 && n > r.max {
		v.add(r.tag, quote(*s), path, "must have length less than or equal to "+strconv.Itoa(r.max))
	}
	if r.re != nil && !r.re.MatchString(*s) {
		v.add(r.tag, quote(*s), path, "must satisfy regular expression pattern: "+r.pattern)
	}
}

func (v *violations) quantity(path string, q *int64, required bool) {
	if q == nil {
		if required {
			v.add(false, "null", path, "must not be null")
		}
		return
	}
	if *q < 0 {
		v.add(false, quote(strconv.FormatInt(*q, 10)), path, "must have value greater than or equal to 0")
	}
	if *q > MaxQuantity {
		v.add(false, quote(strconv.FormatInt(*q, 10)), path, "must have value less than or equal to "+strconv.Itoa(MaxQuantity))
	}
}

func (v *violations) listLen(path string, n, min, max int, tag bool) {
	if n < min {
		v.add(tag, fmt.Sprintf("'[%d items]'", n), path, "must have length greater than or equal to "+strconv.Itoa(min))
	}
	if n > max {
		v.add(tag, fmt.Sprintf("'[%d items]'", n), path, "must have length less than or equal to "+strconv.Itoa(max))
	}
}

var (
	ruleProductCode = stringRule{max: MaxProductCode, re: reProductCode, pattern: PatternProductCode}
	ruleDimension   = stringRule{min: 1, max: MaxUsageDimension}
	ruleClientToken = stringRule{min: 1, max: MaxClientToken}
	ruleCustomerID  = stringRule{max: MaxCustomerIdentifier}
	ruleAccountID   = stringRule{min: 1, max: MaxCustomerAccountID, re: reCustomerAcct, pattern: PatternCustomerAcct}
	ruleLicenseArn  = stringRule{re: reLicenseArn, pattern: PatternLicenseArn}
	ruleTagKey      = stringRule{min: 1, max: MaxTagKey, re: reTag, pattern: PatternTag, tag: true}
	ruleTagValue    = stringRule{min: 1, max: MaxTagValue, re: reTag, pattern: PatternTag, tag: true}
)

func (v *violations) allocations(path string, allocs []AllocationInput) {
	if allocs == nil {
		return
	}
	v.listLen(path, len(allocs), 1, MaxAllocations, false)
	for i, a := range allocs {
		p := fmt.Sprintf("%s.%d.member", path, i+1)
		v.quantity(p+".allocatedUsageQuantity", a.AllocatedUsageQuantity, true)
		if a.Tags == nil {
			continue
		}
		v.listLen(p+".tags", len(a.Tags), 1, MaxTags, true)
		for j, t := range a.Tags {
			tp := fmt.Sprintf("%s.tags.%d.member", p, j+1)
			v.str(tp+".key", t.Key, true, ruleTagKey)
			v.str(tp+".value", t.Value, true, ruleTagValue)
		}
	}
}

// checkAllocations applies the rules beyond the model's constraints, once
// the input is well-formed: the allocated quantities add up to the record's
// quantity, no tag key repeats within an allocation, and no two allocations
// share a tag set.
func checkAllocations(allocs []AllocationInput, quantity int64) ([]Allocation, error) {
	if allocs == nil {
		return nil, nil
	}
	out := make([]Allocation, len(allocs))
	seen := make(map[string]int, len(allocs))
	var sum int64
	for i, a := range allocs {
		sum += *a.AllocatedUsageQuantity
		tags := make([]Tag, len(a.Tags))
		keys := make(map[string]bool, len(a.Tags))
		for j, t := range a.Tags {
			if keys[*t.Key] {
				return nil, Errorf(KindInvalidTag, "Tag key '%s' appears more than once in usage allocation %d.", *t.Key, i+1)
			}
			keys[*t.Key] = true
			tags[j] = Tag{Key: *t.Key, Value: *t.Value}
		}
		sort.Slice(tags, func(x, y int) bool { return tags[x].Key < tags[y].Key })
		set := tagSetKey(tags)
		if j, dup := seen[set]; dup {
			return nil, Errorf(KindInvalidUsageAllocations, "Usage allocations %d and %d have the same tag set; each allocation needs a distinct set of tags.", j+1, i+1)
		}
		seen[set] = i
		out[i] = Allocation{Quantity: *a.AllocatedUsageQuantity, Tags: tags}
	}
	if sum != quantity {
		return nil, Errorf(KindInvalidUsageAllocations, "The sum of AllocatedUsageQuantity across usage allocations (%d) must equal the usage quantity (%d).", sum, quantity)
	}
	return out, nil
}

// tagSetKey is a canonical text for a sorted tag set. The separators cannot
// occur in a valid tag: the tag pattern excludes control characters.
func tagSetKey(tags []Tag) string {
	var b strings.Builder
	for _, t := range tags {
		b.WriteString(t.Key)
		b.WriteByte(0x1f)
		b.WriteString(t.Value)
		b.WriteByte(0x1e)
	}
	return b.String()
}

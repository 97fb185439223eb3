package awsproto

// JSONAppender is a result that encodes itself: AppendJSON appends exactly
// the bytes json.Marshal would give for it. WriteJSON uses it for the
// answers sent most often (BatchMeterUsage's 25 echoed records), whose
// encoding by reflection cost a few percent of the server's CPU.
type JSONAppender interface {
	AppendJSON(dst []byte) []byte
}

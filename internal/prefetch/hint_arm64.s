#include "textflag.h"

// func hint(p, size uintptr)
TEXT ·hint(SB), NOSPLIT|NOFRAME, $0-16
	MOVD p+0(FP), R0
	MOVD size+8(FP), R1
	ADD  R0, R1, R1      // end
	AND  $-64, R0, R0    // the line p is in
loop:
	PRFM (R0), PLDL1KEEP
	ADD  $64, R0, R0
	CMP  R1, R0
	BLO  loop
	RET

#include "CBuildInfo.h"

#ifndef CLOCK_AGENT_GIT_COMMIT
#define CLOCK_AGENT_GIT_COMMIT "unknown"
#endif

#ifndef CLOCK_AGENT_BUILD_DATE
#define CLOCK_AGENT_BUILD_DATE __DATE__ " " __TIME__
#endif

const char *clock_agent_git_commit(void) { return CLOCK_AGENT_GIT_COMMIT; }

const char *clock_agent_build_date(void) { return CLOCK_AGENT_BUILD_DATE; }

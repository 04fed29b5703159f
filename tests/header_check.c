/* Each public header must compile alone, as C99 with -pedantic -Werror
 * (built by tests/CMakeLists.txt; a failure here fails the build). */
#include <vbd/store.h>
#include <vbd/error.h>
#include <vbd/ctx.h>
#include <vbd/dev.h>
#include <vbd/disk.h>
#include <vbd/hotplug.h>
#include <vbd/domain.h>
#include <vbd/status.h>
#include <vbd/verify.h>
#include <vbd/transport.h>
#include <vbd/simhv.h>
#include <vbd/blkback.h>
#include <vbd/blkfront.h>

int vbd_header_check_dummy(void);
int vbd_header_check_dummy(void)
{
	return VBD_STORE_OPTIONS_VERSION;
}

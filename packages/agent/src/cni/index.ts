export { startCniServer, type CniServer, type CniServerOptions } from './server.js';
export { requestedAddresses } from './request.js';
export { CniHandlers, DEFAULT_POD_MTU, handleOf, podRoutesThrough, type CniAnswer, type CniEvent, type CniHandlerOptions, type Readiness } from './handlers.js';
export { PendingDels, type PendingDel } from './pending.js';
export { allocatorIpam, localPodRoutes, type CniIpam, type NodeAllocation } from './ipam.js';
export { cniCodeFor, toCniError } from './errors.js';
export { etcdReadiness } from './readiness.js';
export { checkSocketDir, prepareSocketDir, socketDirProblem, type DirFacts } from './socket-dir.js';

/**
 * Storage: CIDs under one named profile, blockstores, result directories in and out, and moving DAGs over
 * HTTP in the trustless-gateway style with every block checked on arrival. See README.md.
 */
export { PROFILE, PROFILE_NAME, importerOptions, type ProfileName } from './profile.js';
export { openBlockstore, closeBlockstore, getBlock, FsBlockstore, type Blockstore } from './blockstore.js';
export { addBytes, addDirectory, addFile, cidOfBytes, cidOfDirectory, cidOfFile, MAX_DIRECTORY_DEPTH } from './add.js';
export { exportDirectory, exportFile, isSafeEntryName, type ExportDirectoryOptions } from './export.js';
export {
  createGateway,
  addGatewayRoutes,
  startGateway,
  type GatewayComponents,
  type RunningGateway,
  type StartGatewayOptions,
} from './serve.js';
export { carOfDag, CAR_CONTENT_TYPE } from './car.js';
export { blockLinks, blockMatchesCid, RAW_CONTENT_TYPE } from './dag.js';
export {
  fetchDag,
  fetchBlock,
  MAX_BLOCK_BYTES,
  type FetchDagOptions,
  type FetchDagProgressEvent,
  type FetchDagResult,
} from './fetch.js';
export { SweepableBlockstore, type SweepResult } from './sweep.js';

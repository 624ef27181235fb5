/** A model folder or file that cannot be imported or run, named in the message. Node-free. */
export class ModelImportError extends Error {}

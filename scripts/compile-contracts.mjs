console.log('no contracts yet')
